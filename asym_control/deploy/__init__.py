"""
Running the controller.

The node graph of a robot read from config/<robot>.yaml (`graph`), the package's own launcher
(`launcher`), ONNX export (`export`), and the tools around real-time runs (`cpulatency`,
`hoptrace`, `safety_probe`).
"""
