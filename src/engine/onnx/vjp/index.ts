// The VJP registry: op type (with its domain when not the default one) → vector-Jacobian product.

import type { Vjp } from './context';
import { ELEMENTWISE_VJPS } from './elementwise';
import { SHAPE_VJPS } from './shape';
import { LINALG_VJPS } from './linalg';
import { NORM_VJPS } from './norm';

export type { Vjp } from './context';
export { VjpContext } from './context';

const REGISTRY = new Map<string, Vjp>(Object.entries({ ...ELEMENTWISE_VJPS, ...SHAPE_VJPS, ...LINALG_VJPS, ...NORM_VJPS }));

/** The VJP of an op, keyed `Op` (default domain) or `domain:Op`. */
export function vjpFor(opType: string, domain = ''): Vjp | undefined {
  return REGISTRY.get(domain && domain !== 'ai.onnx' ? `${domain}:${opType}` : opType);
}

/** Register a VJP (e.g. for an op another module emits, such as com.microsoft:MatMulNBits). */
export function registerVjp(key: string, vjp: Vjp): void {
  REGISTRY.set(key, vjp);
}

export function supportedOps(): string[] {
  return [...REGISTRY.keys()].sort();
}
