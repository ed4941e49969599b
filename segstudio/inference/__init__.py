"""Using a trained model: checkpoints, devices, tiled prediction, predicting many images,
scoring against ground truth, and model export (TorchScript, ONNX) with sample scripts."""
