import { useState } from 'preact/hooks';
import useSWR from 'swr';
import { useLocation } from 'wouter-preact';
import {
  base64Bytes,
  call,
  utf8,
  type CommandIdAnswer,
  type CommandView,
  type DescribeCommandsAnswer,
  type InvokeIdAnswer,
} from '../api';
import { ErrorLine, Head, Pager, ScheduleFields } from '../components/bits';
import { runFields, splitIds, type RepeatModeChoice } from '../form';
import { useCanRun } from '../role';
import { formatTime } from '../time';

type Mode =
  { kind: 'list' } | { kind: 'create' } | { kind: 'modify' | 'invoke'; command: CommandView };

function useField(initial = ''): [string, (e: Event) => void, (v: string) => void] {
  const [value, set] = useState(initial);
  return [value, (e) => set((e.currentTarget as HTMLInputElement).value), set];
}

/** Create (all fields) or modify (the fields a saved command may change) a command. */
function CommandForm({ command, done }: { command?: CommandView; done: () => void }) {
  const [name, onName] = useField(command?.Name ?? '');
  const [description, onDescription] = useField(command?.Description ?? '');
  const [content, onContent] = useField('');
  const [workingDir, onWorkingDir] = useField(command?.WorkingDir ?? '');
  const [timeout, onTimeout] = useField(String(command?.Timeout ?? 60));
  const [username, onUsername] = useField(command?.Username ?? '');
  const [enableParameter, setEnableParameter] = useState(false);
  const [error, setError] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    const fields = {
      Name: name,
      Description: description,
      WorkingDir: workingDir,
      Timeout: Number(timeout),
      Username: username,
    };
    const request = command
      ? call('ModifyCommand', { CommandId: command.CommandId, ...fields })
      : call<CommandIdAnswer>('CreateCommand', {
          ...fields,
          CommandContent: content,
          EnableParameter: enableParameter,
        });
    request
      .then(done)
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  };
  return (
    <form class="run-form" onSubmit={submit}>
      <h2>{command ? `Modify ${command.Name}` : 'New command'}</h2>
      <div class="grid">
        <label>
          Name
          <input required value={name} onInput={onName} />
        </label>
        <label>
          Description
          <input value={description} onInput={onDescription} />
        </label>
        <label>
          Timeout (seconds)
          <input type="number" min={1} max={86400} value={timeout} onInput={onTimeout} />
        </label>
        <label>
          User
          <input value={username} onInput={onUsername} />
        </label>
        <label>
          Working dir
          <input value={workingDir} onInput={onWorkingDir} />
        </label>
      </div>
      {!command && (
        <>
          <label>
            Command
            <textarea
              class="code"
              required
              rows={6}
              spellcheck={false}
              value={content}
              onInput={onContent}
            />
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={enableParameter}
              onChange={(e) => setEnableParameter(e.currentTarget.checked)}
            />
            Takes parameters ({'{{name}}'} in the content)
          </label>
        </>
      )}
      <div class="actions">
        <button type="submit">{command ? 'Save' : 'Create'}</button>
        <button type="button" onClick={done}>
          Cancel
        </button>
      </div>
      <ErrorLine error={error} />
    </form>
  );
}

/** InvokeCommand: nodes, a value per parameter the command names, and when to run. */
function InvokeForm({ command, done }: { command: CommandView; done: () => void }) {
  const [, navigate] = useLocation();
  const names = command.ParameterNames.ParameterName;
  const [ids, onIds] = useField('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [frequency, , setFrequency] = useField('');
  const [repeatMode, setRepeatMode] = useState<RepeatModeChoice>('');
  const [error, setError] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    const parameters = names.map((n) => `${n}=${values[n] ?? ''}`).join('\n');
    const fields = runFields({
      timeout: '',
      username: '',
      workingDir: '',
      frequency,
      repeatMode,
      parameters,
    });
    call<InvokeIdAnswer>('InvokeCommand', {
      CommandId: command.CommandId,
      NodeIdList: splitIds(ids),
      ...fields,
    })
      .then((a) => navigate(`/invocations/${a.InvokeId}`))
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  };
  return (
    <form class="run-form" onSubmit={submit}>
      <h2>Invoke {command.Name}</h2>
      <pre class="code content">{utf8(base64Bytes(command.CommandContent))}</pre>
      <label>
        Node ids (comma separated)
        <input required value={ids} onInput={onIds} />
      </label>
      {names.map((n) => (
        <label key={n}>
          Parameter {n}
          <input
            value={values[n] ?? ''}
            onInput={(e) => setValues({ ...values, [n]: e.currentTarget.value })}
          />
        </label>
      ))}
      <div class="grid">
        <ScheduleFields
          frequency={frequency}
          setFrequency={setFrequency}
          repeatMode={repeatMode}
          setRepeatMode={setRepeatMode}
        />
      </div>
      <div class="actions">
        <button type="submit">Invoke</button>
        <button type="button" onClick={done}>
          Cancel
        </button>
      </div>
      <ErrorLine error={error} />
    </form>
  );
}

export function CommandsPage() {
  const canRun = useCanRun();
  const [mode, setMode] = useState<Mode>({ kind: 'list' });
  const [pages, setPages] = useState<string[]>([]);
  const [error, setError] = useState('');
  const token = pages[pages.length - 1];
  const { data, mutate } = useSWR<DescribeCommandsAnswer>([
    'DescribeCommands',
    { MaxResults: 20, ...(token ? { NextToken: token } : {}) },
  ]);
  const back = () => {
    setMode({ kind: 'list' });
    void mutate();
  };
  const remove = (c: CommandView) => {
    if (!window.confirm(`Delete the command ${c.Name}?`)) return;
    call('DeleteCommand', { CommandId: c.CommandId })
      .then(() => mutate())
      .catch((err: unknown) => setError(String(err)));
  };
  if (mode.kind === 'create') return <CommandForm done={back} />;
  if (mode.kind === 'modify') return <CommandForm command={mode.command} done={back} />;
  if (mode.kind === 'invoke') return <InvokeForm command={mode.command} done={back} />;
  return (
    <section>
      <h1>Saved commands</h1>
      {canRun && (
        <button type="button" onClick={() => setMode({ kind: 'create' })}>
          New command
        </button>
      )}
      <ErrorLine error={error} />
      <table class="list">
        <Head
          columns={[
            'Name',
            'Description',
            'Parameters',
            'Timeout',
            'Runs',
            'Created',
            canRun && 'Actions',
          ]}
        />
        <tbody>
          {(data?.Commands.Command ?? []).map((c) => (
            <tr key={c.CommandId}>
              <td>{c.Name}</td>
              <td>{c.Description}</td>
              <td>{c.ParameterNames.ParameterName.join(', ')}</td>
              <td>{c.Timeout} s</td>
              <td>{c.InvokeTimes}</td>
              <td>{formatTime(c.CreationTime)}</td>
              {canRun && (
                <td class="actions">
                  <button
                    type="button"
                    onClick={() => setMode({ kind: 'invoke', command: c })}
                    aria-label={`Invoke ${c.Name}`}
                  >
                    Invoke
                  </button>
                  <button
                    type="button"
                    onClick={() => setMode({ kind: 'modify', command: c })}
                    aria-label={`Modify ${c.Name}`}
                  >
                    Modify
                  </button>
                  <button
                    type="button"
                    class="danger"
                    onClick={() => remove(c)}
                    aria-label={`Delete ${c.Name}`}
                  >
                    Delete
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      <Pager pages={pages} setPages={setPages} next={data?.NextToken} />
    </section>
  );
}
