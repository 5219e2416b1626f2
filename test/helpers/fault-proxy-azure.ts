/**
 * The fault proxy's Azure dialect (test/helpers/fault-proxy.ts): Blob service requests
 * classified by operation, and errors written as Azure writes them (an XML body and the
 * x-ms-error-code header the SDK reads). Azurite's URLs are path-style:
 * /<account>/<container>/<blob>.
 */
import type { IncomingMessage } from 'node:http';
import type { AzureOperation, ClassifiedRequest, Dialect } from './fault-proxy.js';

/** The blob name of a path-style URL (empty for the account or the container itself). */
function blobName(pathname: string): string {
  const parts = decodeURIComponent(pathname).replace(/^\/+/, '').split('/');
  return parts.slice(2).join('/');
}

function operation(method: string, key: string, q: URLSearchParams, headers: IncomingMessage['headers']): AzureOperation {
  const comp = q.get('comp');
  if (q.get('restype') === 'container') return comp === 'list' ? 'ListBlobs' : 'Other';
  if (key === '') return 'Other';
  if (method === 'PUT' && comp === 'block') return headers['x-ms-copy-source'] ? 'PutBlockFromURL' : 'PutBlock';
  if (method === 'PUT' && comp === 'blocklist') return 'PutBlockList';
  if (method === 'GET' && comp === 'blocklist') return 'GetBlockList';
  if (method === 'PUT' && comp === 'metadata') return 'SetBlobMetadata';
  if (method === 'PUT' && comp === null) return key.endsWith('.info') ? 'PutBlobInfo' : key.endsWith('.part') ? 'PutBlobTail' : 'PutBlob';
  if (method === 'GET' && comp === null) return 'GetBlob';
  if (method === 'HEAD' && comp === null) return 'GetBlobProperties';
  if (method === 'DELETE' && comp === null) return 'DeleteBlob';
  return 'Other';
}

function classifyAzure(method: string, url: string, headers: IncomingMessage['headers']): ClassifiedRequest {
  const parsed = new URL(url, 'http://proxy');
  const key = blobName(parsed.pathname);
  return { op: operation(method, key, parsed.searchParams, headers), method, key, query: parsed.searchParams };
}

// The codes and messages Azure Storage answers with (its common REST API error codes).
const AZURE_ERRORS = {
  error500: { status: 500, code: 'InternalError', message: 'The server encountered an internal error. Please retry the request.' },
  slowdown503: {
    status: 503,
    code: 'ServerBusy',
    message: 'The server is currently unable to receive requests. Please retry your request.',
  },
} as const;

export const azureDialect: Dialect = {
  classify: classifyAzure,
  error(fault) {
    const { status, code, message } = AZURE_ERRORS[fault];
    const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:fault-proxy</Message></Error>`;
    return {
      status,
      headers: {
        'Content-Type': 'application/xml',
        'x-ms-error-code': code,
        'x-ms-request-id': 'fault-proxy',
        'x-ms-version': '2025-01-05',
      },
      body,
    };
  },
};
