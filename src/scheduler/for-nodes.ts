/** Moved to app/ (RunCommand fans a one-off run out itself). */
export { forNodes } from '../app/for-nodes.js';
