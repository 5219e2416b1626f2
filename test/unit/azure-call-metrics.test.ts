/** Azure calls are named in the metrics by their Blob service operation. */
import t from 'tap';
import { operationOf } from '../../src/stores/azure/call-metrics.js';

const base = 'https://acct.blob.core.windows.net/c/root/id';

t.test('each request of the store is named by its operation', async (t) => {
  t.equal(operationOf('PUT', `${base}?comp=block&blockid=x`, undefined), 'PutBlock');
  t.equal(operationOf('PUT', `${base}?comp=block&blockid=x`, 'https://acct.blob.core.windows.net/c/p?sig=s'), 'PutBlockFromURL');
  t.equal(operationOf('PUT', `${base}?comp=blocklist`, undefined), 'PutBlockList');
  t.equal(operationOf('GET', `${base}?comp=blocklist&blocklisttype=uncommitted`, undefined), 'GetBlockList');
  t.equal(operationOf('GET', 'https://acct.blob.core.windows.net/c?restype=container&comp=list&prefix=r', undefined), 'ListBlobs');
  t.equal(operationOf('PUT', `${base}.info`, undefined), 'PutBlob');
  t.equal(operationOf('GET', `${base}.info`, undefined), 'GetBlob');
  t.equal(operationOf('HEAD', base, undefined), 'GetBlobProperties');
  t.equal(operationOf('DELETE', base, undefined), 'DeleteBlob');
});
