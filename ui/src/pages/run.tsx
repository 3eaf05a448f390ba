import { useState } from 'preact/hooks';
import { useLocation } from 'wouter-preact';
import { call, type InvokeIdAnswer } from '../api';
import { ErrorLine, ScheduleFields } from '../components/bits';
import { parseTags, runFields, splitIds, type RepeatModeChoice } from '../form';
import { useAllNodes } from '../use-all-nodes';

/** Online nodes offered as checkboxes up to this many; beyond it, ids are typed. */
const PICK_LIMIT = 100;

export function RunPage() {
  const [, navigate] = useLocation();
  const { nodes } = useAllNodes(30_000);
  const [ids, setIds] = useState('');
  const [tags, setTags] = useState('');
  const [content, setContent] = useState('');
  const [name, setName] = useState('');
  const [timeout, setTimeoutText] = useState('60');
  const [username, setUsername] = useState('');
  const [workingDir, setWorkingDir] = useState('');
  const [parameters, setParameters] = useState('');
  const [frequency, setFrequency] = useState('');
  const [repeatMode, setRepeatMode] = useState<RepeatModeChoice>('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const picked = new Set(splitIds(ids));
  const toggle = (id: string) => {
    if (picked.has(id)) picked.delete(id);
    else picked.add(id);
    setIds([...picked].join(', '));
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      const fields = runFields({
        timeout,
        username,
        workingDir,
        frequency,
        repeatMode,
        parameters,
      });
      const byTag = tags.trim() !== '';
      if (byTag === (ids.trim() !== '')) throw new Error('give node ids or tags (one of the two)');
      const answer = await call<InvokeIdAnswer>('RunCommand', {
        ...(byTag ? { ResourceTag: parseTags(tags) } : { NodeIdList: splitIds(ids) }),
        CommandContent: content,
        ...(name.trim() ? { Name: name.trim() } : {}),
        ...fields,
        ...('Parameters' in fields ? { EnableParameter: true } : {}),
      });
      navigate(`/invocations/${answer.InvokeId}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };
  const online = nodes.filter((n) => n.Online);
  return (
    <section>
      <h1>Run a command</h1>
      <form class="run-form" onSubmit={(e) => void submit(e)}>
        <div class="grid">
          <label>
            Node ids (comma separated)
            <input value={ids} onInput={(e) => setIds(e.currentTarget.value)} />
          </label>
          <label>
            Or tags (key=value or key, comma separated)
            <input value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
          </label>
        </div>
        {online.length > 0 && online.length <= PICK_LIMIT && (
          <fieldset class="pick">
            <legend>Online nodes</legend>
            {online.map((n) => (
              <label key={n.NodeId} class="check">
                <input
                  type="checkbox"
                  checked={picked.has(n.NodeId)}
                  onChange={() => toggle(n.NodeId)}
                />
                {n.NodeId}
              </label>
            ))}
          </fieldset>
        )}
        <label>
          Command
          <textarea
            class="code"
            required
            rows={8}
            spellcheck={false}
            value={content}
            onInput={(e) => setContent(e.currentTarget.value)}
          />
        </label>
        <div class="grid">
          <label>
            Name
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label>
            Timeout (seconds)
            <input
              type="number"
              min={1}
              max={86400}
              value={timeout}
              onInput={(e) => setTimeoutText(e.currentTarget.value)}
            />
          </label>
          <label>
            User
            <input value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
          </label>
          <label>
            Working dir
            <input value={workingDir} onInput={(e) => setWorkingDir(e.currentTarget.value)} />
          </label>
          <ScheduleFields
            frequency={frequency}
            setFrequency={setFrequency}
            repeatMode={repeatMode}
            setRepeatMode={setRepeatMode}
          />
        </div>
        <label>
          Parameters: key=value, one a line ({'{{key}}'} in the content)
          <textarea
            class="code"
            rows={3}
            value={parameters}
            onInput={(e) => setParameters(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          Run
        </button>
        <ErrorLine error={error} />
      </form>
    </section>
  );
}
