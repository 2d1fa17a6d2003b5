"""NetAdapt: fewer channels, layer by layer, until a model meets a latency measured on the target.

`surgery` finds the channel groups of a functional model and builds the physically smaller model.
"""
