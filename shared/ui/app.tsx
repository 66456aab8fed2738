/** The admin page: who is signed in, the screens (connections, exports, an export's runs) and notices. */
import { useCallback, useEffect, useState } from 'preact/hooks';

import { api, type Connection, type Export, type Me, type RunRecord } from './api';
import { ConnectionsScreen } from './connections';
import { ExportsScreen } from './exports';
import { RunsScreen } from './runs';

type View =
  { name: 'connections' } | { name: 'exports' } | { name: 'runs'; exportId: string; runId?: string };

/** The whole page. */
export function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [view, setView] = useState<View>({ name: 'connections' });
  const [connections, setConnections] = useState<Connection[]>([]);
  const [exports, setExports] = useState<Export[]>([]);
  const [lastRuns, setLastRuns] = useState<Record<string, RunRecord | undefined>>({});
  const [notice, setNotice] = useState('');
  const [problem, setProblem] = useState<string | null>(null);

  const reload = useCallback(async () => {
    try {
      const [c, e] = await Promise.all([api.connections(), api.exports()]);
      setConnections(c.items);
      setExports(e.items);
      const latest = await Promise.all(
        e.items.map((d) =>
          api.runs(d.id, 1).then(
            (page) => [d.id, page.items[0]] as const,
            () => [d.id, undefined] as const,
          ),
        ),
      );
      setLastRuns(Object.fromEntries(latest));
      setProblem(null);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  }, []);

  useEffect(() => {
    api.me().then(
      (who) => {
        setMe(who);
        void reload();
      },
      (error: unknown) => setProblem(error instanceof Error ? error.message : String(error)),
    );
  }, [reload]);

  const admin = me?.roles.includes('Admin') ?? false;
  const show = (next: View) => {
    setView(next);
    if (next.name !== 'runs') void reload();
  };
  const current = view.name === 'runs' ? exports.find((e) => e.id === view.exportId) : undefined;

  return (
    <>
      <header class="top">
        <h1>Segment export to ActiveCampaign</h1>
        <p class="who">
          {me
            ? `${me.name} · ${me.roles.length ? me.roles.join(', ') : 'no role'}${me.local ? ' · local development mode' : ''}`
            : 'Signing in…'}
        </p>
        <nav aria-label="Screens">
          <button
            type="button"
            aria-current={view.name === 'connections' ? 'page' : undefined}
            onClick={() => show({ name: 'connections' })}
          >
            Connections
          </button>
          <button
            type="button"
            aria-current={view.name !== 'connections' ? 'page' : undefined}
            onClick={() => show({ name: 'exports' })}
          >
            Exports
          </button>
        </nav>
      </header>
      <main>
        <div class="notice" role="status" aria-live="polite">
          {notice}
        </div>
        {problem ? (
          <p class="field-error" role="alert">
            {problem}
          </p>
        ) : null}
        {me === null ? null : view.name === 'connections' ? (
          <ConnectionsScreen admin={admin} connections={connections} reload={reload} notify={setNotice} />
        ) : view.name === 'exports' || !current ? (
          <ExportsScreen
            exports={exports}
            connections={connections}
            lastRuns={lastRuns}
            reload={reload}
            notify={setNotice}
            openRuns={(exportId, runId) => setView({ name: 'runs', exportId, ...(runId ? { runId } : {}) })}
          />
        ) : (
          <RunsScreen
            definition={current}
            runId={view.runId}
            select={(runId) => setView({ name: 'runs', exportId: current.id, ...(runId ? { runId } : {}) })}
            back={() => show({ name: 'exports' })}
            notify={setNotice}
          />
        )}
      </main>
    </>
  );
}
