/** The run job data moved to app/ (RunCommand fans a one-off run out itself). */
export { listedOnNodes, toRunJob } from '../app/run-job-data.js';
