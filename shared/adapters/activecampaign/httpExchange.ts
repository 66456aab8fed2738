/**
 * One HTTP exchange with ActiveCampaign under a timeout: the request sent with the key in its `Api-Token`
 * header (and nowhere else), the answer read, scrubbed of the key, and mapped to its parsed body or to one
 * member of the error family. No retries here: the client's call loop decides those.
 */
import type { z } from 'zod';

import type { ActiveCampaignClientStats } from './clientStats';
import type { Clock } from './clock';
import {
  type ActiveCampaignRequestInfo,
  NetworkError,
  TimeoutError,
  UnexpectedResponseError,
} from './errors';
import { parseJson, toActiveCampaignError } from './responseErrors';

/** What one exchange needs from its client. */
export interface ExchangeDeps {
  baseUrl: string;
  apiKey: string;
  fetchFn: typeof fetch;
  clock: Clock;
  timeoutMs: number;
  stats: ActiveCampaignClientStats;
}

/** One HTTP exchange under a timeout; maps every failure into the error family. */
export async function exchange<S extends z.ZodType>(
  deps: ExchangeDeps,
  request: ActiveCampaignRequestInfo,
  schema: S,
  body: string | undefined,
): Promise<z.infer<S>> {
  const controller = new AbortController();
  const timer = new AbortController();
  let timedOut = false;
  // The timeout runs on the injected clock so a time-scaled sandbox scales it too.
  deps.clock.sleep(deps.timeoutMs, timer.signal).then(
    () => {
      timedOut = true;
      controller.abort();
    },
    () => {},
  );
  deps.stats.requests++;
  let status: number;
  let headers: Headers;
  let text: string;
  try {
    const response = await deps.fetchFn(new URL(request.path.slice('/api/3/'.length), deps.baseUrl), {
      method: request.method,
      headers: {
        'Api-Token': deps.apiKey,
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body,
      signal: controller.signal,
    });
    status = response.status;
    headers = response.headers;
    // Read the body inside the timeout: a reset mid-body ("terminated") is a network error too.
    text = await response.text();
  } catch (error) {
    if (timedOut) throw new TimeoutError(request, deps.timeoutMs);
    throw new NetworkError(request, error);
  } finally {
    timer.abort();
  }
  const json = parseJson(scrub(text, deps.apiKey));
  const error = toActiveCampaignError(request, status, headers, json, deps.clock.now());
  if (error) throw error;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    // Not retried (a resubmission could double-queue), and the status is kept: for a 2xx the caller must
    // treat the request as possibly applied (importContacts reports its contacts `unconfirmed`).
    throw new UnexpectedResponseError(
      request,
      { status, body: json, retryAfterMs: undefined },
      'body does not match the documented shape',
      parsed.error,
    );
  }
  return parsed.data;
}

/** Defence in depth: should a response ever echo the key, it must not ride into an error or a log. */
function scrub(text: string, apiKey: string): string {
  return apiKey.length >= 4 ? text.split(apiKey).join('[redacted]') : text;
}
