export { registerForkJobs } from './jobs.js';
