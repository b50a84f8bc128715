// node-oidc-provider ships no types (its own are in a separate package the tests do without).
declare module 'oidc-provider' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const Provider: any;
  export default Provider;
}
