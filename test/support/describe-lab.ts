/**
 * The one way a lab suite declares itself (issue 15). Lab suites need root (network namespaces,
 * chroots, routes). Without root a suite fails with one test that says so, because a run that
 * skipped the lab would report success without having proved anything. `LAB_OPTIONAL=1` makes it
 * skip instead (a laptop without root, on purpose). With root, it is jest's `describe`.
 */
export const IS_ROOT = process.getuid?.() === 0;
export const LAB_OPTIONAL = process.env.LAB_OPTIONAL === '1';

type Body = () => void;

function needsRoot(name: string): void {
  describe(name, () => {
    test('needs root (the lab makes network namespaces); run as root, or set LAB_OPTIONAL=1 to skip the lab', () => {
      throw new Error(`${name}: lab suite run without root; set LAB_OPTIONAL=1 to skip it on purpose`);
    });
  });
}

function withoutRoot(): jest.Describe {
  if (LAB_OPTIONAL) return describe.skip;
  const d = ((name: string, _fn: Body) => needsRoot(name)) as unknown as jest.Describe;
  (d as unknown as { each: unknown }).each = (() => (name: string) => needsRoot(name)) as unknown;
  (d as unknown as { skip: unknown }).skip = describe.skip;
  (d as unknown as { only: unknown }).only = describe.only;
  return d;
}

/** `describe` for a suite that needs the lab. */
export const describeLab: jest.Describe = IS_ROOT ? describe : withoutRoot();
