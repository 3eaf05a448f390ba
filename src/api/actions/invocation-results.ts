import type { z } from 'zod';
import type { Invocation, RunRecord } from '../../domain/invocation.js';
import { pendingRun } from '../../domain/invocation.js';
import { nodeInvokeStatus } from '../../domain/status.js';
import { AppError } from '../../app/errors.js';
import { existingInvocation, invocationOfKind } from '../../app/invocations.js';
import type { Action, ActionDeps } from '../../app/deps.js';
import { canonicalJson, sha256 } from '../../app/submit-invocation.js';
import type { IndexCursor } from '../../store/invocation-store.js';
import { decodeToken, encodeToken } from '../page-token.js';
import { renderResult } from '../render.js';
import { describeInvocationResultsSchema, parseBody } from '../schemas/common.js';
import type { DescribeInvocationResultsAnswer, InvocationResultView } from '../schemas/response.js';
import { invocationListing, isIndexCursor, moreAfter, scan } from './listing.js';

/** Most nodes an invocation targets (NodeIdList): a cursor past them is past the invocation. */
const MAX_NODES = 1000;

/**
 * A position in DescribeInvocationResults: the invocation (by index entry), the node (by its
 * place in the invocation), and within the node the next past run by history sequence number
 * (absent: the node's first row). Past runs never change, so a page boundary stays put while
 * new runs are added in front. `f` ties the token to the request's filters.
 */
interface ResultsCursor {
  /** The invocation's index entry (absent when the request names an InvokeId). */
  at?: IndexCursor;
  node: number;
  seq?: number;
  f: string;
}

const isResultsCursor = (v: unknown): v is ResultsCursor => {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as ResultsCursor;
  return (
    Number.isSafeInteger(c.node) &&
    c.node >= 0 &&
    (c.seq === undefined || (Number.isSafeInteger(c.seq) && c.seq > 0)) &&
    typeof c.f === 'string' &&
    (c.at === undefined || isIndexCursor(c.at))
  );
};

/** Run states in which a periodic record describes a run under way (not yet in its history). */
const UNDER_WAY: ReadonlySet<string> = new Set(['Pending', 'Running', 'Stopping']);

/** One result row before rendering: a run record, and its history number if it is a past run. */
interface ResultRun {
  rec: RunRecord;
  seq?: number;
}

/** One page being filled: the request, the rows so far, and (once full) where the next starts. */
interface ResultsPage {
  req: z.output<typeof describeInvocationResultsSchema>;
  deps: ActionDeps;
  /** The InvokeRecordStatus filter, lower case. */
  wanted: string | undefined;
  /** The request's filters, hashed: a NextToken carries them. */
  filters: string;
  rows: InvocationResultView[];
  next?: ResultsCursor;
}

/** The NextToken's position, refused when it was returned for other filters. */
function startOf(page: ResultsPage): ResultsCursor {
  const { req, filters } = page;
  if (req.NextToken === undefined) return { node: 0, f: filters };
  const start = decodeToken(req.NextToken, isResultsCursor);
  if (start.f !== filters || (start.at === undefined) !== (req.InvokeId !== undefined)) {
    throw new AppError(
      'InvalidParameter',
      'NextToken: was returned for a request with other filters',
    );
  }
  return start;
}

/** A node's rows: its latest run; with IncludeHistory, the run under way then past runs. */
async function nodeRuns(page: ResultsPage, inv: Invocation, nodeId: string): Promise<ResultRun[]> {
  const { req, deps } = page;
  const rec =
    (await deps.runs.read(inv.invokeId, [nodeId], true)).get(nodeId) ??
    pendingRun(inv.createdMs, inv.repeatMode !== 'Once');
  if (!req.IncludeHistory || inv.repeatMode === 'Once') return [{ rec }];
  const past = await deps.runs.readHistory(nodeId, inv.invokeId, true);
  const current = UNDER_WAY.has(rec.status) && rec.fire !== '' ? [{ rec }] : [];
  const rows = [
    ...current,
    ...past.map((p) => ({ rec: { ...p, skipped: rec.skipped }, seq: p.seq })),
  ];
  // A node that has not run yet still has its row: its status and skips are visible.
  return rows.length > 0 ? rows : [{ rec }];
}

const matches = (wanted: string | undefined, r: RunRecord) =>
  wanted === undefined ||
  r.status.toLowerCase() === wanted ||
  nodeInvokeStatus(r.status).toLowerCase() === wanted;

/** Walks one invocation from a position; stops (setting `page.next`) once the page is full. */
async function walk(
  page: ResultsPage,
  inv: Invocation,
  at: IndexCursor | undefined,
  from: ResultsCursor,
): Promise<void> {
  const { req } = page;
  for (let n = from.node; n < inv.nodeIds.length && page.next === undefined; n++) {
    const nodeId = inv.nodeIds[n] as string;
    if (req.NodeId !== undefined && nodeId !== req.NodeId) continue;
    const resumeSeq = n === from.node ? from.seq : undefined;
    for (const { rec, seq } of await nodeRuns(page, inv, nodeId)) {
      if (resumeSeq !== undefined && (seq === undefined || seq > resumeSeq)) continue;
      if (!matches(page.wanted, rec)) continue;
      if (page.rows.length === req.MaxResults) {
        page.next = {
          ...(at ? { at } : {}),
          node: n,
          ...(seq !== undefined ? { seq } : {}),
          f: page.filters,
        };
        return;
      }
      page.rows.push(renderResult(inv, nodeId, rec, req.ContentEncoding));
    }
  }
}

/** Without an InvokeId: the rest of the token's invocation, then the index after it. */
async function walkListing(page: ResultsPage, start: ResultsCursor): Promise<void> {
  const { req, deps } = page;
  const { at } = start;
  if (at) {
    const inv = await invocationOfKind(deps, at.invokeId, 'command');
    if (inv) await walk(page, inv, at, start);
  }
  if (page.next !== undefined) return;
  const listing = invocationListing(deps, 'command', req.NodeId);
  const { last, exhausted } = await scan(listing, at, async (inv, entry) => {
    if (req.NodeId === undefined || inv.nodeIds.includes(req.NodeId)) {
      await walk(page, inv, entry, { node: 0, f: page.filters });
    }
    return page.next !== undefined;
  });
  // The scan limit ended the page early: resume after the last invocation scanned.
  if (page.next === undefined && !exhausted && last && (await moreAfter(listing, last))) {
    page.next = { at: last, node: MAX_NODES, f: page.filters };
  }
}

/**
 * Per-node run records, one row per node; with IncludeHistory one row per run (the run under
 * way, then past runs newest first, as far as history retention keeps them). Rows are ordered
 * invocation (newest first), node (request order), run; NextToken resumes after the last row.
 */
export const describeInvocationResults: Action<DescribeInvocationResultsAnswer> = async (
  body,
  deps,
) => {
  const req = parseBody(describeInvocationResultsSchema, body);
  const wanted = req.InvokeRecordStatus?.toLowerCase();
  const filters = sha256(
    canonicalJson([req.InvokeId, req.NodeId, wanted, req.IncludeHistory]),
  ).slice(0, 16);
  const page: ResultsPage = { req, deps, wanted, filters, rows: [] };
  const start = startOf(page);
  if (req.InvokeId !== undefined) {
    await walk(page, await existingInvocation(deps, req.InvokeId), undefined, start);
  } else {
    await walkListing(page, start);
  }
  return {
    Invocation: {
      ...(page.next ? { NextToken: encodeToken(page.next) } : {}),
      InvocationResults: { InvocationResult: page.rows },
    },
  };
};
