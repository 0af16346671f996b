"""Tasks of the evaluation panel (benchmarks/model_panel.py): each scores models on data never pretrained on."""
