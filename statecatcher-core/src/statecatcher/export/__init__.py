"""Exports of a trained model to other runtimes (ONNX: :mod:`statecatcher.export.onnx`)."""
