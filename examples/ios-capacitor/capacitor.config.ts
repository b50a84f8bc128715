import type { CapacitorConfig } from '@capacitor/cli';

const config: CapacitorConfig = {
  appId: 'dev.sessionkeeper.example',
  appName: 'Session Keeper',
  webDir: 'dist',
  ios: {
    // The session panel scrolls; the WebView itself should not bounce like a web page.
    scrollEnabled: true,
    contentInset: 'automatic',
  },
};

export default config;
