/**
 * Temporary: keys.ts and redis.ts (edited on another branch during the issue 17 re-layout)
 * still import UsageError from here. Delete this file once they import './usage-error.js'.
 */
export { UsageError } from './usage-error.js';
