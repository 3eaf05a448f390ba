/**
 * A delivery deadline: when it is due, the nodes whose run has not been taken by then are
 * Aborted (DeliveryTimeout, or ClientNotRunning for a node that is down). Two kinds:
 * - `once`: a one-off invocation's, over all its nodes; it also finishes a fan-out that a crash
 *   cut short, and then sets itself `again` from then (a second deadline of its own).
 * - `nodes`: one fire's (or one rollout release's) over the nodes it was sent to.
 *
 * Stored as a member of a sorted set scored by the due time (store/deadline-store.ts), so the
 * member is the deadline's identity: adding the same deadline again while it waits changes
 * nothing, as a BullMQ job with a fixed id did. Text, so it is pure to make and to read back.
 */
export type DeliveryDeadline =
  | { kind: 'once'; invokeId: string; again: boolean }
  | { kind: 'nodes'; invokeId: string; fire: string; nodeIds: readonly string[] };

/**
 * The member that stands for a deadline: `o <InvokeId>` (`O <InvokeId>` again), or
 * `n <InvokeId> <fire> <node ids...>`; ids hold no space (NodeId and InvokeId are checked at the
 * API, fires are `f<ms>`/`b<digest>`), and a one-off run's fire is '' (written `-`).
 */
export function deadlineMember(d: DeliveryDeadline): string {
  if (d.kind === 'once') return `${d.again ? 'O' : 'o'} ${d.invokeId}`;
  return ['n', d.invokeId, d.fire === '' ? '-' : d.fire, ...d.nodeIds].join(' ');
}

/** The deadline a member stands for; undefined for one this version does not know. */
export function parseDeadlineMember(member: string): DeliveryDeadline | undefined {
  const [kind, invokeId, fire, ...nodeIds] = member.split(' ');
  if (invokeId === undefined || invokeId === '') return undefined;
  if ((kind === 'o' || kind === 'O') && fire === undefined) {
    return { kind: 'once', invokeId, again: kind === 'O' };
  }
  if (kind === 'n' && fire !== undefined && fire !== '' && nodeIds.length > 0) {
    if (nodeIds.includes('')) return undefined;
    return { kind: 'nodes', invokeId, fire: fire === '-' ? '' : fire, nodeIds };
  }
  return undefined;
}
