/** Waiting for conditions by polling against a deadline (never a fixed sleep). */

export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The value of one sample of the server's /metrics (`name{labels}` exactly as printed), 0 when absent. */
export async function metric(baseUrl: string, sample: string, headers: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { headers })).text();
  for (const line of text.split('\n')) if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  return 0;
}

/** S3 parts a location has stored so far (UploadPart calls that succeeded). */
export function partsStored(baseUrl: string, location = 's3'): Promise<number> {
  return metric(baseUrl, `tus_s3_request_duration_seconds_count{location="${location}",operation="UploadPart",result="ok"}`);
}
