// graphql-request on session.fetch, against a GraphQL endpoint that checks tokens with the reference server.
import { gql, GraphQLClient } from 'graphql-request';
import { integrationSuite } from './harness.ts';

const ME = gql`
  query Me($n: Int) {
    me(n: $n) {
      username
    }
  }
`;

integrationSuite('graphql-request', (fetchFn, urls) => {
  const client = new GraphQLClient(urls.graphql, { fetch: fetchFn });
  return async (n) => (await client.request<{ me: { username: string } }>(ME, { n })).me.username;
});
