/**
 * Connections, in the connector's words: the list (display name, type, who can use it), "Add connection"
 * with "Connect" (ActiveCampaign verifies the key and host before anything is saved), verify, edit and
 * delete (with detach when exports use the connection). Contributors see display name and type only.
 */
import { useState } from 'preact/hooks';

import { type AdminConnection, api, ApiError, type Connection, isAdminView } from './api';
import { CheckboxField, FieldErrors, formatTime, FormErrors, TextField } from './fields';

interface Props {
  admin: boolean;
  connections: Connection[];
  reload: () => Promise<void>;
  notify: (message: string) => void;
}

/** The connections screen. */
export function ConnectionsScreen({ admin, connections, reload, notify }: Props) {
  const [editing, setEditing] = useState<AdminConnection | 'new' | null>(null);
  return (
    <section aria-labelledby="connections-title">
      <div class="section-head">
        <h2 id="connections-title">Connections</h2>
        {admin && editing === null ? (
          <button type="button" class="primary" onClick={() => setEditing('new')}>
            Add connection
          </button>
        ) : null}
      </div>
      {editing !== null ? (
        <ConnectionForm
          key={editing === 'new' ? 'new' : editing.id}
          existing={editing === 'new' ? undefined : editing}
          onDone={async (message) => {
            setEditing(null);
            if (message) notify(message);
            await reload();
          }}
        />
      ) : null}
      {connections.length === 0 ? (
        <p class="empty">
          {admin
            ? 'No connections yet: add one to export to ActiveCampaign.'
            : 'No connection is shared with you.'}
        </p>
      ) : (
        <table class="list" aria-label="Connections">
          <thead>
            <tr>
              <th scope="col">Display name</th>
              <th scope="col">Type</th>
              {admin ? <th scope="col">Who can use it</th> : null}
              {admin ? <th scope="col">Hostname</th> : null}
              {admin ? <th scope="col">Last verified</th> : null}
              {admin ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {connections.map((connection) => (
              <ConnectionRow
                key={connection.id}
                connection={connection}
                admin={admin}
                onEdit={setEditing}
                reload={reload}
                notify={notify}
              />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ConnectionRow(props: {
  connection: Connection;
  admin: boolean;
  onEdit: (connection: AdminConnection) => void;
  reload: () => Promise<void>;
  notify: (message: string) => void;
}) {
  const { connection } = props;
  const [confirming, setConfirming] = useState(false);
  const [inUse, setInUse] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const name = connection.displayName;
  const full = isAdminView(connection) ? connection : undefined;

  const act = async (action: () => Promise<string>) => {
    setBusy(true);
    setProblem(null);
    try {
      props.notify(await action());
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) setInUse(error.message);
      else setProblem(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <tr>
      <td data-label="Display name">{name}</td>
      <td data-label="Type">{connection.type}</td>
      {props.admin && full ? (
        <>
          <td data-label="Who can use it">
            {full.allowContributors ? 'Admins and contributors' : 'Admins only'}
          </td>
          <td data-label="Hostname">{full.hostname}</td>
          <td data-label="Last verified">{formatTime(full.lastVerifiedAt)}</td>
          <td data-label="Actions" class="actions">
            <button
              type="button"
              disabled={busy}
              aria-label={`Verify ${name}`}
              onClick={() =>
                void act(async () => {
                  const result = await api.verifyConnection(full.id);
                  await props.reload();
                  return `${name}: ActiveCampaign accepted the key (verified ${formatTime(result.verifiedAt)})`;
                })
              }
            >
              Verify
            </button>
            <button
              type="button"
              disabled={busy}
              aria-label={`Edit ${name}`}
              onClick={() => props.onEdit(full)}
            >
              Edit
            </button>
            {confirming ? (
              <>
                <button
                  type="button"
                  class="danger"
                  disabled={busy}
                  aria-label={`Confirm deleting ${name}`}
                  onClick={() =>
                    void act(async () => {
                      await api.deleteConnection(full.id, false);
                      await props.reload();
                      return `Connection ${name} deleted`;
                    })
                  }
                >
                  Confirm delete
                </button>
                <button type="button" aria-label={`Keep ${name}`} onClick={() => setConfirming(false)}>
                  Keep
                </button>
              </>
            ) : (
              <button
                type="button"
                class="danger"
                aria-label={`Delete ${name}`}
                onClick={() => setConfirming(true)}
              >
                Delete
              </button>
            )}
            {inUse ? (
              <div class="inline-alert" role="alert">
                <p>{inUse}</p>
                <button
                  type="button"
                  class="danger"
                  aria-label={`Detach exports and delete ${name}`}
                  onClick={() =>
                    void act(async () => {
                      await api.deleteConnection(full.id, true);
                      await props.reload();
                      return `Connection ${name} deleted; its exports were kept without a connection`;
                    })
                  }
                >
                  Detach exports and delete
                </button>
              </div>
            ) : null}
            {problem ? (
              <p class="field-error" role="alert">
                {problem}
              </p>
            ) : null}
          </td>
        </>
      ) : null}
    </tr>
  );
}

/** "Add connection" (or edit): Connect verifies with ActiveCampaign before saving; its answer is shown in words. */
function ConnectionForm(props: { existing?: AdminConnection; onDone: (message?: string) => Promise<void> }) {
  const { existing } = props;
  const [displayName, setDisplayName] = useState(existing?.displayName ?? '');
  const [hostname, setHostname] = useState(existing?.hostname ?? '');
  const [apiKey, setApiKey] = useState('');
  const [allowContributors, setAllowContributors] = useState(existing?.allowContributors ?? false);
  const [acceptDataPrivacy, setAcceptDataPrivacy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const errors = new FieldErrors(error);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (existing) {
        await api.updateConnection(existing.id, {
          ...(displayName !== existing.displayName ? { displayName } : {}),
          ...(hostname !== existing.hostname ? { hostname } : {}),
          ...(apiKey ? { apiKey } : {}),
          ...(allowContributors !== existing.allowContributors ? { allowContributors } : {}),
        });
        await props.onDone(`Connection ${displayName} saved`);
      } else {
        const created = await api.createConnection({
          displayName,
          hostname,
          apiKey,
          allowContributors,
          acceptDataPrivacy: acceptDataPrivacy as true,
        });
        await props.onDone(`Connected: ActiveCampaign accepted the key for ${created.hostname}`);
      }
    } catch (thrown) {
      setError(thrown);
    } finally {
      setBusy(false);
    }
  };

  const prefix = existing ? 'edit-connection' : 'connection';
  return (
    <form
      class="card"
      onSubmit={(event) => void submit(event)}
      aria-labelledby={`${prefix}-title`}
      noValidate
    >
      <h3 id={`${prefix}-title`}>
        {existing ? `Edit connection ${existing.displayName}` : 'Add connection'}
      </h3>
      <TextField
        id={`${prefix}-displayName`}
        label="Display name"
        value={displayName}
        onValue={setDisplayName}
        error={errors.take('displayName')}
        required
        autoFocus
      />
      <TextField
        id={`${prefix}-hostname`}
        label="Hostname"
        hint="Settings → Developer → API URL, without https:// (for example youraccount.api-us1.com)"
        value={hostname}
        onValue={setHostname}
        error={errors.take('hostname') ?? errors.take('connection.hostname')}
        required
      />
      <TextField
        id={`${prefix}-apiKey`}
        label="API key"
        type="password"
        autoComplete="new-password"
        hint={existing ? 'Leave empty to keep the current key' : 'Settings → Developer → API Access'}
        value={apiKey}
        onValue={setApiKey}
        error={errors.take('apiKey')}
        required={!existing}
      />
      <CheckboxField
        id={`${prefix}-allowContributors`}
        label="Allow contributors to use this connection"
        checked={allowContributors}
        onChecked={setAllowContributors}
        error={errors.take('allowContributors')}
      />
      {existing ? null : (
        <CheckboxField
          id={`${prefix}-acceptDataPrivacy`}
          label="I agree to data privacy and compliance"
          checked={acceptDataPrivacy}
          onChecked={setAcceptDataPrivacy}
          error={errors.take('acceptDataPrivacy')}
        />
      )}
      <FormErrors errors={errors} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy}>
          {existing ? 'Save' : 'Connect'}
        </button>
        <button type="button" disabled={busy} onClick={() => void props.onDone()}>
          Cancel
        </button>
        {busy ? (
          <span role="status" class="busy">
            Checking with ActiveCampaign…
          </span>
        ) : null}
      </div>
    </form>
  );
}
