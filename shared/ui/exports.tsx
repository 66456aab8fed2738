/**
 * Exports, in the connector's words: the list (name, connection, status of the last run, schedule, last
 * refreshed) with "Run", "Dry run", "Run all", edit, duplicate, schedule on/off and remove; and "Add export"
 * (export name, connection, list ID, data matching with the required email column, segments from the
 * picker, membership with the mirror-mode warning). "Save" never runs an export.
 */
import { useEffect, useState } from 'preact/hooks';

import { api, type Connection, type Export, type ExportInput, type RunRecord, type Segment } from './api';
import { CheckboxField, FieldErrors, formatTime, FormErrors, SelectField, TextField } from './fields';
import { runStatusWords } from './status';

interface Props {
  exports: Export[];
  connections: Connection[];
  lastRuns: Record<string, RunRecord | undefined>;
  reload: () => Promise<void>;
  notify: (message: string) => void;
  openRuns: (exportId: string, runId?: string) => void;
}

type Editing = { mode: 'new' } | { mode: 'edit'; of: Export } | { mode: 'duplicate'; of: Export };

/** The exports screen. */
export function ExportsScreen(props: Props) {
  const [editing, setEditing] = useState<Editing | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const connectionName = (id: string | null) =>
    id === null
      ? 'No connection (detached)'
      : (props.connections.find((c) => c.id === id)?.displayName ?? 'Not shared with you');

  const runAll = async () => {
    setProblem(null);
    try {
      const { items } = await api.runAll();
      const started = items.filter((i) => i.outcome === 'started').length;
      props.notify(`Run all: ${started} run(s) started, ${items.length - started} other answer(s)`);
      await props.reload();
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  };

  return (
    <section aria-labelledby="exports-title">
      <div class="section-head">
        <h2 id="exports-title">Exports</h2>
        {editing === null ? (
          <div class="buttons">
            <button type="button" class="primary" onClick={() => setEditing({ mode: 'new' })}>
              Add export
            </button>
            <button type="button" onClick={() => void runAll()}>
              Run all
            </button>
          </div>
        ) : null}
      </div>
      {problem ? (
        <p class="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {editing !== null ? (
        <ExportForm
          key={editing.mode === 'new' ? 'new' : `${editing.mode}-${editing.of.id}`}
          editing={editing}
          connections={props.connections}
          onDone={async (message) => {
            setEditing(null);
            if (message) props.notify(message);
            await props.reload();
          }}
        />
      ) : null}
      {props.exports.length === 0 ? (
        <p class="empty">No exports yet.</p>
      ) : (
        <table class="list" aria-label="Exports">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Connection</th>
              <th scope="col">Last run</th>
              <th scope="col">Schedule</th>
              <th scope="col">Last refreshed</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {props.exports.map((definition) => (
              <ExportRow
                key={definition.id}
                definition={definition}
                connectionName={connectionName(definition.connectionId)}
                lastRun={props.lastRuns[definition.id]}
                onEdit={(mode) => setEditing({ mode, of: definition })}
                {...props}
              />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ExportRow(
  props: Props & {
    definition: Export;
    connectionName: string;
    lastRun: RunRecord | undefined;
    onEdit: (mode: 'edit' | 'duplicate') => void;
  },
) {
  const { definition: d } = props;
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setProblem(null);
    try {
      await action();
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };
  const start = (dryRun: boolean) =>
    act(async () => {
      const started = await api.startRun(d.id, { dryRun });
      if (started.outcome === 'followUpRequested') {
        props.notify(`${d.name} is running; one follow-up run was requested`);
      } else {
        props.notify(`${dryRun ? 'Dry run' : 'Run'} of ${d.name} started`);
      }
      props.openRuns(d.id, started.runId);
    });

  return (
    <tr>
      <td data-label="Name">{d.name}</td>
      <td data-label="Connection">{props.connectionName}</td>
      <td data-label="Last run">
        {props.lastRun ? (
          <span class={`status status-${props.lastRun.status}`}>{runStatusWords(props.lastRun.status)}</span>
        ) : (
          'Never run'
        )}
      </td>
      <td data-label="Schedule">
        {d.schedule === 'refresh' ? 'Every scheduled refresh' : 'Off (on demand)'}
      </td>
      <td data-label="Last refreshed">{formatTime(props.lastRun?.finishedAt ?? props.lastRun?.startedAt)}</td>
      <td data-label="Actions" class="actions">
        <button type="button" disabled={busy} aria-label={`Run ${d.name}`} onClick={() => void start(false)}>
          Run
        </button>
        <button
          type="button"
          disabled={busy}
          aria-label={`Dry run ${d.name}`}
          onClick={() => void start(true)}
        >
          Dry run
        </button>
        <button type="button" aria-label={`Runs of ${d.name}`} onClick={() => props.openRuns(d.id)}>
          Runs
        </button>
        <button type="button" aria-label={`Edit ${d.name}`} onClick={() => props.onEdit('edit')}>
          Edit
        </button>
        <button type="button" aria-label={`Duplicate ${d.name}`} onClick={() => props.onEdit('duplicate')}>
          Duplicate
        </button>
        <button
          type="button"
          disabled={busy}
          aria-label={`Turn schedule ${d.schedule === 'refresh' ? 'off' : 'on'} for ${d.name}`}
          onClick={() =>
            void act(async () => {
              const schedule = d.schedule === 'refresh' ? 'off' : 'refresh';
              await api.updateExport(d.id, { schedule });
              props.notify(`${d.name}: schedule ${schedule === 'refresh' ? 'on' : 'off'}`);
              await props.reload();
            })
          }
        >
          Schedule {d.schedule === 'refresh' ? 'off' : 'on'}
        </button>
        {confirming ? (
          <>
            <button
              type="button"
              class="danger"
              disabled={busy}
              aria-label={`Confirm removing ${d.name}`}
              onClick={() =>
                void act(async () => {
                  await api.deleteExport(d.id);
                  props.notify(`Export ${d.name} removed`);
                  await props.reload();
                })
              }
            >
              Confirm remove
            </button>
            <button type="button" aria-label={`Keep ${d.name}`} onClick={() => setConfirming(false)}>
              Keep
            </button>
          </>
        ) : (
          <button
            type="button"
            class="danger"
            aria-label={`Remove ${d.name}`}
            onClick={() => setConfirming(true)}
          >
            Remove
          </button>
        )}
        {problem ? (
          <p class="field-error" role="alert">
            {problem}
          </p>
        ) : null}
      </td>
    </tr>
  );
}

interface FieldRow {
  column: string;
  fieldId: string;
}

/** "Add export" (also edit and duplicate). Saving checks the list and segments; it never runs the export. */
function ExportForm(props: {
  editing: Editing;
  connections: Connection[];
  onDone: (message?: string) => Promise<void>;
}) {
  const of = props.editing.mode === 'new' ? undefined : props.editing.of;
  const [name, setName] = useState(
    props.editing.mode === 'duplicate' && of ? `${of.name} (copy)` : (of?.name ?? ''),
  );
  const [connectionId, setConnectionId] = useState(of?.connectionId ?? props.connections[0]?.id ?? '');
  const [listId, setListId] = useState(of ? String(of.listId) : '');
  const [email, setEmail] = useState(of?.mapping.email ?? '');
  const [firstName, setFirstName] = useState(of?.mapping.firstName ?? '');
  const [lastName, setLastName] = useState(of?.mapping.lastName ?? '');
  const [phone, setPhone] = useState(of?.mapping.phone ?? '');
  const [fields, setFields] = useState<FieldRow[]>(
    of?.mapping.fields.map((f) => ({ column: f.column, fieldId: String(f.fieldId) })) ?? [],
  );
  const [fixedTags, setFixedTags] = useState(of?.mapping.tags.fixed.join(', ') ?? '');
  const [tagColumn, setTagColumn] = useState(of?.mapping.tags.column ?? '');
  const [segments, setSegments] = useState<string[]>(of?.segments ?? []);
  const [membership, setMembership] = useState<'add' | 'mirror'>(of?.membership ?? 'add');
  const [scheduled, setScheduled] = useState(of ? of.schedule === 'refresh' : false);
  const [available, setAvailable] = useState<Segment[] | null>(null);
  const [segmentProblem, setSegmentProblem] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const errors = new FieldErrors(error);

  useEffect(() => {
    api.segments().then(
      (page) => setAvailable(page.items),
      (thrown: unknown) => setSegmentProblem(thrown instanceof Error ? thrown.message : String(thrown)),
    );
  }, []);

  const optional = (value: string) => (value.trim() === '' ? undefined : value.trim());
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const body: ExportInput = {
      name,
      connectionId,
      listId: Number(listId),
      mapping: {
        email,
        firstName: optional(firstName),
        lastName: optional(lastName),
        phone: optional(phone),
        fields: fields.map((f) => ({ column: f.column, fieldId: Number(f.fieldId) })),
        tags: {
          fixed: fixedTags
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
          column: optional(tagColumn),
        },
      },
      segments,
      schedule: scheduled ? 'refresh' : 'off',
      membership,
    };
    try {
      if (props.editing.mode === 'edit' && of) {
        await api.updateExport(of.id, body);
        await props.onDone(`Export ${name} saved (not run)`);
      } else {
        await api.createExport(body);
        await props.onDone(`Export ${name} saved (not run: use Run or Dry run)`);
      }
    } catch (thrown) {
      setError(thrown);
    } finally {
      setBusy(false);
    }
  };

  const title = props.editing.mode === 'edit' ? `Edit export ${of?.name ?? ''}` : 'Add export';
  const segmentsError = errors.take('segments', true) ?? errors.take('segments');
  return (
    <form
      class="card"
      onSubmit={(event) => void submit(event)}
      aria-labelledby="export-form-title"
      noValidate
    >
      <h3 id="export-form-title">{title}</h3>
      <TextField
        id="export-name"
        label="Export name"
        value={name}
        onValue={setName}
        error={errors.take('name')}
        required
        autoFocus
      />
      <SelectField
        id="export-connection"
        label="Connection"
        value={connectionId}
        onValue={setConnectionId}
        error={errors.take('connectionId')}
      >
        {connectionId === '' ? <option value="">Choose a connection</option> : null}
        {props.connections.map((c) => (
          <option key={c.id} value={c.id}>
            {c.displayName}
          </option>
        ))}
      </SelectField>
      <TextField
        id="export-listId"
        label="List ID"
        hint="ActiveCampaign → Lists → the list's ID; checked with ActiveCampaign when you save"
        inputMode="numeric"
        value={listId}
        onValue={setListId}
        error={errors.take('listId')}
        required
      />
      <fieldset>
        <legend>Data matching: segment columns</legend>
        <TextField
          id="export-email"
          label="Email"
          hint="The column holding the email address (required: contacts are matched on email)"
          value={email}
          onValue={setEmail}
          error={errors.take('mapping.email') ?? errors.take('mapping', false)}
          required
        />
        <TextField
          id="export-firstName"
          label="First name"
          value={firstName}
          onValue={setFirstName}
          error={errors.take('mapping.firstName')}
        />
        <TextField
          id="export-lastName"
          label="Last name"
          value={lastName}
          onValue={setLastName}
          error={errors.take('mapping.lastName')}
        />
        <TextField
          id="export-phone"
          label="Phone"
          value={phone}
          onValue={setPhone}
          error={errors.take('mapping.phone')}
        />
        {fields.map((field, i) => (
          <div class="row" key={i}>
            <TextField
              id={`export-field-${i}-column`}
              label={`Custom field ${i + 1}: column`}
              value={field.column}
              onValue={(column) => setFields(fields.map((f, j) => (j === i ? { ...f, column } : f)))}
              error={errors.take(`mapping.fields.${i}.column`)}
            />
            <TextField
              id={`export-field-${i}-fieldId`}
              label={`Custom field ${i + 1}: ActiveCampaign field ID`}
              inputMode="numeric"
              value={field.fieldId}
              onValue={(fieldId) => setFields(fields.map((f, j) => (j === i ? { ...f, fieldId } : f)))}
              error={errors.take(`mapping.fields.${i}.fieldId`)}
            />
            <button
              type="button"
              aria-label={`Remove custom field ${i + 1}`}
              onClick={() => setFields(fields.filter((_, j) => j !== i))}
            >
              Remove
            </button>
          </div>
        ))}
        <button type="button" onClick={() => setFields([...fields, { column: '', fieldId: '' }])}>
          Add custom field
        </button>
        <TextField
          id="export-tags"
          label="Tags for every contact"
          hint="Comma-separated tag names"
          value={fixedTags}
          onValue={setFixedTags}
          error={errors.take('mapping.tags.fixed', true)}
        />
        <TextField
          id="export-tagColumn"
          label="Tag column"
          hint="A column holding each contact's tags, comma-separated"
          value={tagColumn}
          onValue={setTagColumn}
          error={errors.take('mapping.tags.column')}
        />
      </fieldset>
      <fieldset aria-describedby={segmentsError ? 'export-segments-error' : undefined}>
        <legend>Segments</legend>
        {available === null && !segmentProblem ? <p role="status">Looking for segments…</p> : null}
        {segmentProblem ? <p class="field-error">{segmentProblem}</p> : null}
        {available?.length === 0 ? <p>No segments found in segment storage.</p> : null}
        {available?.map((segment) => (
          <CheckboxField
            key={segment.name}
            id={`export-segment-${segment.name.replace(/[^A-Za-z0-9_-]/g, '_')}`}
            label={`${segment.name} (${segment.fileCount} file${segment.fileCount === 1 ? '' : 's'}, newest snapshot ${formatTime(segment.newestSnapshotAt)})`}
            checked={segments.includes(segment.name)}
            onChecked={(on) =>
              setSegments(on ? [...segments, segment.name] : segments.filter((s) => s !== segment.name))
            }
          />
        ))}
        {segmentsError ? (
          <p id="export-segments-error" class="field-error">
            {segmentsError}
          </p>
        ) : null}
      </fieldset>
      <fieldset>
        <legend>Membership</legend>
        <div class="check">
          <input
            type="radio"
            id="export-membership-add"
            name="membership"
            checked={membership === 'add'}
            onChange={() => setMembership('add')}
          />
          <label for="export-membership-add">Add and update contacts (never remove anyone)</label>
        </div>
        <div class="check">
          <input
            type="radio"
            id="export-membership-mirror"
            name="membership"
            checked={membership === 'mirror'}
            aria-describedby="export-mirror-warning"
            onChange={() => setMembership('mirror')}
          />
          <label for="export-membership-mirror">
            Mirror the segments (also unsubscribe contacts who left them)
          </label>
        </div>
        <p id="export-mirror-warning" class={membership === 'mirror' ? 'warning' : 'hint'}>
          Mirror mode unsubscribes from the list every contact who left all selected segments (nobody is
          deleted, and nobody who opted out is subscribed again). A run that would unsubscribe an unusually
          large share stops and asks you to confirm the count.
        </p>
        {errors.take('membership') ? <p class="field-error">{errors.take('membership')}</p> : null}
      </fieldset>
      <CheckboxField
        id="export-schedule"
        label="Run on every scheduled refresh (off: on demand only)"
        checked={scheduled}
        onChecked={setScheduled}
        error={errors.take('schedule')}
      />
      <FormErrors errors={errors} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy}>
          Save
        </button>
        <button type="button" disabled={busy} onClick={() => void props.onDone()}>
          Cancel
        </button>
        {busy ? (
          <span role="status" class="busy">
            Checking the list with ActiveCampaign…
          </span>
        ) : null}
      </div>
    </form>
  );
}
