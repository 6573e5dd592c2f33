// Polling instead of sleeping: tests wait for a condition, with a generous bound, never for a time.
// The one polling loop is scripts/lib/procs.mjs's: `waitFor` answers whether it happened (assert on
// it), `waitUntil` throws naming what never happened (for setup that cannot assert).
export { waitFor, waitUntil } from '../../../scripts/lib/procs.mjs'
