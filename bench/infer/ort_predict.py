"""ort_predict.py - the onnxruntime counterpart of `capstan predict`, as a
user would write it in Python: load the .npy, run the model in batches,
write one CSV row of outputs per input row (header line, "%.9g" values,
the same columns and precision as `capstan predict` writes for float
outputs). Single-threaded like the rest of the benchmark. bench.py times it
as a whole process (interpreter start to exit).

    python bench/infer/ort_predict.py MODEL.onnx X.npy OUT.csv BATCH
"""
import sys

import numpy as np
import onnxruntime as ort


def main():
    model, inp, outp, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    X = np.load(inp)
    name = s.get_inputs()[0].name
    parts = []
    for i in range(0, len(X), batch):
        outs = s.run(None, {name: X[i:i + batch]})
        parts.append(np.column_stack([o.reshape(len(o), -1) for o in outs]))
    res = np.vstack(parts)
    cols = []
    for o, v in zip(s.get_outputs(), outs):
        w = int(np.prod(v.shape[1:])) if v.ndim > 1 else 1
        cols += [o.name] if w == 1 else [f"{o.name}.{k}" for k in range(w)]
    np.savetxt(outp, res, fmt="%.9g", delimiter=",", header=",".join(cols), comments="")


if __name__ == "__main__":
    main()
