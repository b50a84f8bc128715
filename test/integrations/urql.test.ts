// urql (@urql/core) on session.fetch, against a GraphQL endpoint that checks tokens with the reference server.
import { Client, fetchExchange, gql } from '@urql/core';
import { integrationSuite } from './harness.ts';

const ME = gql`
  query Me($n: Int) {
    me(n: $n) {
      username
    }
  }
`;

integrationSuite('urql', (fetchFn, urls) => {
  const client = new Client({
    url: urls.graphql,
    exchanges: [fetchExchange],
    fetch: fetchFn,
    requestPolicy: 'network-only',
  });
  return async (n) => {
    const result = await client.query<{ me: { username: string } }>(ME, { n }).toPromise();
    if (result.error) throw result.error;
    return result.data!.me.username;
  };
});
