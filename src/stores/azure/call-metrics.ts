/**
 * Every Azure call timed for the metrics (tus_s3_request_duration_seconds, by operation and
 * result, as the S3 store's calls): a request policy at the head of the SDK's pipeline, so a
 * call's time includes its retries, as the S3 client's middleware measures it.
 */
import type { HttpOperationResponse, RequestPolicy, RequestPolicyFactory, WebResource } from '@azure/storage-blob';

export type OnCall = (operation: string, result: 'ok' | 'error', seconds: number) => void;

/** The Blob service operation of a request, from its method, its `comp` and `restype` and whether it copies. */
export function operationOf(method: string, url: string, copySource: string | undefined): string {
  const query = new URL(url).searchParams;
  const comp = query.get('comp');
  if (comp === 'block') return copySource ? 'PutBlockFromURL' : 'PutBlock';
  if (comp === 'blocklist') return method === 'PUT' ? 'PutBlockList' : 'GetBlockList';
  if (comp === 'list') return 'ListBlobs';
  if (query.get('restype') === 'container') return method === 'PUT' ? 'CreateContainer' : 'GetContainerProperties';
  const byMethod: Record<string, string> = { PUT: 'PutBlob', GET: 'GetBlob', HEAD: 'GetBlobProperties', DELETE: 'DeleteBlob' };
  return byMethod[method] ?? method;
}

export function timedCalls(onCall: OnCall): RequestPolicyFactory {
  return {
    create: (next: RequestPolicy): RequestPolicy => ({
      async sendRequest(request: WebResource): Promise<HttpOperationResponse> {
        const started = process.hrtime.bigint();
        const operation = operationOf(request.method, request.url, request.headers.get('x-ms-copy-source'));
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        try {
          const response = await next.sendRequest(request);
          onCall(operation, response.status < 400 ? 'ok' : 'error', seconds());
          return response;
        } catch (error) {
          onCall(operation, 'error', seconds());
          throw error;
        }
      },
    }),
  };
}
