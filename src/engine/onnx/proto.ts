// ONNX protobuf constants and model serialization (the protobuf schema comes from onnx-proto).

import { onnx } from 'onnx-proto';

export { onnx };

/** ONNX TensorProto.DataType values we use. */
export const ElemType = {
  float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, double: 11, bfloat16: 16,
} as const;
export type ElemTypeName = keyof typeof ElemType;

export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7 } as const;

/** IR version 10 (ONNX 1.16): accepted by onnxruntime 1.30 (≤ 13) and enough for opset 23. */
export const IR_VERSION = 10;
export const OPSET = 23;
export const MS_DOMAIN = 'com.microsoft';

export function encodeModel(graph: onnx.IGraphProto, opsets: Record<string, number>): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: IR_VERSION,
    producerName: 'idp-lab',
    opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
    graph,
  }).finish();
}
