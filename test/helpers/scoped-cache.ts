// Point IDP_CACHE at a temporary folder for the duration of the calling describe() block (restored
// after), so converted-model and MatMulNBits caches of temporary test models never land in the
// user's ~/.cache and no other test file sees the change.

export function useTempCache(dir: string): void {
  let saved: string | undefined;
  before(() => {
    saved = process.env.IDP_CACHE;
    process.env.IDP_CACHE = dir;
  });
  after(() => {
    if (saved === undefined) delete process.env.IDP_CACHE;
    else process.env.IDP_CACHE = saved;
  });
}
