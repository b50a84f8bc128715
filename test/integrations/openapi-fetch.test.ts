/**
 * openapi-fetch on session.fetch. Its middleware cannot send a request again, so its docs
 * point to a custom `fetch`: this is that `fetch`.
 */
import createClient from 'openapi-fetch';
import { integrationSuite } from './harness.ts';

/**
 * The reference server's `GET /api/me`, as openapi-typescript generates it from this schema:
 *
 *     openapi: 3.1.0
 *     paths:
 *       /me:
 *         get:
 *           security: [{ bearer: [] }]
 *           responses:
 *             '200': { content: { application/json: { schema: { $ref: '#/components/schemas/Me' } } } }
 *             '401': { description: The access token is missing, expired or invalid }
 *     components:
 *       schemas:
 *         Me: { type: object, required: [sub, username, client_id], properties: { sub: { type: string }, username: { type: string }, client_id: { type: string }, session_id: { type: string } } }
 *       securitySchemes: { bearer: { type: http, scheme: bearer } }
 */
interface paths {
  '/me': {
    get: {
      responses: {
        200: {
          content: { 'application/json': { sub: string; username: string; client_id: string; session_id?: string } };
        };
        401: { content: { 'application/json': { error: string; error_description?: string } } };
      };
    };
  };
}

integrationSuite('openapi-fetch', (fetchFn, urls) => {
  const api = createClient<paths>({ baseUrl: urls.api, fetch: fetchFn });
  return async () => {
    const { data, error } = await api.GET('/me');
    if (error) throw new Error(`GET /me: ${error.error}`);
    return data.username;
  };
});
