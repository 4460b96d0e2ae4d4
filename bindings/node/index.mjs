// ESM entry: the implementation is CommonJS (index.cjs), so `import` and
// `require` share one library handle and one set of koffi types.
import cjs from './index.cjs';

export const { OutboxProcessor, Shipper, shipOnce, TraceboxError, loadLibrary, libraryVersion } = cjs;
export default cjs;
