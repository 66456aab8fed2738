/**
 * The ActiveCampaign endpoints the sandbox implements (docs/activecampaign.md): `users/me`, `lists/{id}`,
 * `import/info`, `import/bulk_import` (its own per-minute budget, validation, batches), and `contact/sync`
 * and `contactLists` (which re-subscribes: the quirk the client avoids).
 */
import type { WireContact } from './account';
import { sandboxEmailValid } from './account';
import type { Admitted } from './admission';
import type { SandboxContext, SandboxSettings } from './settings';
import { insertSorted, parseJson, prune, window } from './wire';

/** Bulk-import bodies of this many bytes or more are refused with 413. */
const BULK_LIMIT_BYTES = 400_000;

/** Answers an admitted request at its endpoint (404 for anything else). */
export function answerApi(
  ctx: SandboxContext,
  request: Admitted,
  method: string,
  url: URL,
  raw: { text: string; byteLength: number },
): void {
  const path = url.pathname.replace(/\/+$/, '');
  const { account, reply, ok } = request;
  if (method === 'GET' && path === '/api/3/users/me') {
    return ok({
      user: {
        id: '1',
        username: 'admin',
        firstName: 'Sandbox',
        lastName: 'Admin',
        email: 'admin@example.com',
      },
    });
  }
  const listMatch = /^\/api\/3\/lists\/([^/]+)$/.exec(path);
  if (method === 'GET' && listMatch) {
    const list = account.lists.get(decodeURIComponent(listMatch[1] ?? ''));
    if (!list)
      return reply(404, { message: `No Result found for _List with id ${listMatch[1]}` }, 'not-found');
    return ok({ list: { ...list, cdate: '2024-01-01T00:00:00-06:00', userid: '1' } });
  }
  if (method === 'GET' && path === '/api/3/import/info') {
    const batch = account.batches.get(url.searchParams.get('batchId') ?? '');
    if (!batch) return reply(404, { message: 'No Result found for batch' }, 'not-found');
    return ok(account.info(batch, ctx.clock.now()));
  }
  if (method === 'POST' && path === '/api/3/import/bulk_import') return bulkImport(ctx, request, raw);
  if (method === 'POST' && path === '/api/3/contact/sync') return contactSync(request, raw.text);
  if (method === 'POST' && path === '/api/3/contactLists') return contactLists(request, raw.text);
  return reply(404, { message: 'Not Found' }, 'not-found');
}

/** `POST import/bulk_import`: size, the bulk budget, validation, then a queued batch. */
function bulkImport(ctx: SandboxContext, request: Admitted, raw: { text: string; byteLength: number }): void {
  const { clock, state, settings } = ctx;
  const { account, entry, arrival, reply, ok } = request;
  const faults = state.faults;
  if (raw.byteLength >= BULK_LIMIT_BYTES) {
    return reply(
      413,
      { message: 'Request body too large: bulk import bodies must be under 400,000 bytes.' },
      'too-large',
    );
  }
  const payload = parseJson(raw.text) as { contacts?: unknown } | undefined;
  const contacts = Array.isArray(payload?.contacts) ? (payload.contacts as WireContact[]) : undefined;
  const single = contacts?.length === 1;
  // Bulk import's own budget: 100 multi-contact or 20 single-contact requests per minute; over it, a 400.
  const bulk = window(single ? state.singleWindow : state.bulkWindow, account.name);
  prune(bulk, arrival, 60_000);
  const limit = single ? settings.singlePerMinute : settings.bulkPerMinute;
  if (bulk.length >= limit) {
    state.counters.bulkThrottled++;
    return reply(
      400,
      {
        success: 0,
        message: 'Rate limit exceeded.',
        failureReasons: [
          `Up to ${limit} imports may be requested per minute.Please batch contacts into larger requests, or retry this request in a minute.`,
        ],
      },
      'bulk-throttled',
    );
  }
  insertSorted(bulk, arrival);
  entry.bulkCounted = true;
  entry.contacts = contacts?.length;
  const failureReasons = validateImport(settings, contacts);
  if (failureReasons.length > 0) {
    return reply(
      400,
      {
        success: 0,
        message: 'JSON payload did not pass validation. Please correct the errors and resubmit.',
        failureReasons,
      },
      'invalid',
    );
  }
  const list = contacts ?? [];
  const roll = state.random();
  const fate =
    roll < faults.failedBatchRate
      ? 'failed'
      : roll < faults.failedBatchRate + faults.interruptedBatchRate
        ? 'interrupted'
        : 'completed';
  const batch = account.queueBatch(list, clock.now(), settings.timing, fate);
  entry.batchId = batch.id;
  state.counters.bulkImportsAccepted++;
  const key = ctx.successSpelling++ % 2 === 0 ? 'success' : 'Success';
  return ok({
    [key]: 1,
    queued_contacts: list.length,
    batchId: batch.id,
    message: 'Contact import queued',
  });
}

/** `POST contact/sync`: upsert one contact by email. */
function contactSync(request: Admitted, body: string): void {
  const { account, reply, ok } = request;
  const contact = (
    parseJson(body) as
      { contact?: { email?: unknown; firstName?: unknown; lastName?: unknown; phone?: unknown } } | undefined
  )?.contact;
  if (!contact || !sandboxEmailValid(contact.email)) {
    return reply(
      422,
      {
        errors: [
          {
            title: 'Email address is invalid.',
            code: 'email_invalid',
            source: { pointer: '/data/attributes/email' },
          },
        ],
      },
      'invalid',
    );
  }
  const saved = account.upsert(contact.email, {
    firstName: typeof contact.firstName === 'string' ? contact.firstName : undefined,
    lastName: typeof contact.lastName === 'string' ? contact.lastName : undefined,
    phone: typeof contact.phone === 'string' ? contact.phone : undefined,
  });
  return ok({
    contact: {
      id: saved.id,
      email: saved.email,
      firstName: saved.firstName,
      lastName: saved.lastName,
      phone: saved.phone,
    },
  });
}

/** `POST contactLists`: set one contact's status on a list (2 → 1 re-subscribes, as ActiveCampaign does). */
function contactLists(request: Admitted, body: string): void {
  const { account, reply, ok } = request;
  const link = (
    parseJson(body) as { contactList?: { list?: unknown; contact?: unknown; status?: unknown } } | undefined
  )?.contactList;
  const contact = account.contactById(String(link?.contact));
  const list = account.lists.get(String(link?.list));
  const status = Number(link?.status);
  if (!contact || !list || (status !== 1 && status !== 2)) {
    return reply(422, { errors: [{ title: 'The related contact or list does not exist.' }] }, 'invalid');
  }
  // The quirk the exporter avoids: this DOES move an unsubscribed contact (2) back to subscribed (1).
  contact.lists[list.id] = status;
  return ok({
    contacts: [{ id: contact.id, email: contact.email }],
    contactList: { contact: contact.id, list: list.id, status: String(status) },
  });
}

function validateImport(settings: SandboxSettings, contacts: WireContact[] | undefined): unknown[] {
  if (!contacts || contacts.length === 0)
    return ['The contacts field is required and must be a non-empty array.'];
  if (contacts.length > 250)
    return [`A maximum of 250 contacts may be imported per request; got ${contacts.length}.`];
  const reasons: unknown[] = [];
  contacts.forEach((contact, i) => {
    const index = i + settings.indexBase;
    if (!contact || typeof contact !== 'object')
      reasons.push({ contact: index, failureReason: 'Contact must be an object' });
    else if (settings.invalidEmailMode === 'reject-request' && !sandboxEmailValid(contact.email)) {
      reasons.push({ contact: index, failureReason: "Field' email' incorrect format" });
    }
  });
  return reasons;
}
