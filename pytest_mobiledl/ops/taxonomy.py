"""One op taxonomy across libraries: every library's own op names mapped to a few op classes.

Each profiler speaks of itself (``Conv``, ``CONV_2D``, ``Convolution``, ``aten::conv2d``,
``Convolution (NHWC, F32) IGEMM``…); comparing operators across libraries needs one vocabulary.
A name is normalized (namespace and XNNPACK's ``(layout, type)`` part and micro-kernel dropped,
lower case, letters and digits only) and looked up; a fused op (``FusedConv``, ``ConvRelu``,
``Conv2dReLU6``) counts toward its principal op, which comes first in its name. A name that maps
nowhere is ``other`` and ``mapped=False``: listed by the profile, never dropped.
"""

from __future__ import annotations

import re

#: The op classes, in the order tables show them.
CLASSES = ("conv", "depthwise_conv", "dense", "pooling", "activation", "elementwise", "normalization",
           "data_movement", "softmax", "other")
#: Classes whose work is multiply-accumulates (the others' is the elements they write).
MAC_CLASSES = ("conv", "depthwise_conv", "dense")

_NAMES: dict[str, tuple[str, ...]] = {
    "depthwise_conv": ("depthwiseconv2d", "depthwiseconv", "convolutiondepthwise", "depthwiseconvint8",
                       "dwconv", "convdw", "depthwiseconv2dnative"),
    "conv": ("conv", "conv1d", "conv2d", "conv3d", "convolution", "convolution1d", "convolutiondepthwise1d",
             "convtranspose", "convtranspose2d", "convtranspose1d", "deconvolution", "deconvolutiondepthwise",
             "transposeconv", "fusedconv", "qlinearconv", "convinteger", "nchwcconv", "convint8",
             "convolution2d", "convolutionnhwc", "convolutionnchw", "deconvolutionnhwc", "convolutioninteger",
             "cudnnconvolution", "mkldnnconvolution", "convolutionoverrideable", "convolution2dnhwc",
             "convbnrelu", "conv2dclamp", "conv2dclampprepack", "conv2dclamprun", "qconv2d"),
    "dense": ("matmul", "gemm", "fusedmatmul", "fusedgemm", "qlinearmatmul", "matmulinteger", "matmulnbits",
              "dynamicquantizematmul", "fullyconnected", "innerproduct", "linear", "addmm", "mm", "bmm",
              "baddbmm", "batchmatmul", "batchmatrixmultiply", "einsum", "lstm", "gru", "rnn", "lstmcell",
              "unidirectionalsequencelstm", "bidirectionalsequencelstm", "attention", "multiheadattention",
              "mkldnnrnnlayer", "linearclamprun", "qlinear", "scaleddotproductattention", "fusedlinear",
              "sdpa", "matrixmultiply", "fullyconnectednc", "qlinearmatmulint8"),
    "pooling": ("maxpool", "maxpool2d", "averagepool", "avgpool", "avgpool2d", "averagepool2d", "globalaveragepool",
                "globalmaxpool", "qlinearglobalaveragepool", "qlinearaveragepool", "adaptiveavgpool2d",
                "adaptivemaxpool2d", "maxpool2dwithindices", "pooling", "pool", "pool2d", "pooling3d", "mean",
                "reducemean", "reducemax", "reducesum", "reducemin", "reduceprod", "reduction", "sum", "amax",
                "globalaveragepooling", "maxpooling", "averagepooling", "argmax", "reduce", "reducel2",
                "meannd", "staticmean", "maxpoolingnhwc", "globalaveragepoolingnwc", "globalsumpooling"),
    "activation": ("relu", "relu6", "relu1", "clip", "clamp", "clampmin", "hardtanh", "sigmoid", "logistic",
                   "tanh", "hardswish", "hardsigmoid", "swish", "silu", "gelu", "fastgelu", "biasgelu",
                   "quickgelu", "elu", "selu", "prelu", "leakyrelu", "mish", "softplus", "neuron", "erf",
                   "threshold", "relun", "threshold_", "celu", "hardswishnc", "qlinearsigmoid",
                   "qlinearleakyrelu", "leakyrelunc", "gelunc", "tanhnc", "sigmoidnc", "clampnc"),
    "elementwise": ("add", "sub", "mul", "div", "pow", "sqrt", "rsqrt", "exp", "log", "neg", "abs", "reciprocal",
                    "minimum", "maximum", "min", "max", "where", "eltwise", "binaryop", "unaryop", "multiply",
                    "subtract", "divide", "squareddifference", "square", "floor", "ceil", "round", "sin", "cos",
                    "qlinearadd", "qlinearmul", "sum_", "rsub", "addcmul", "equal", "greater", "less", "not",
                    "and", "or", "logicaland", "logicalor", "select", "selectv2", "addn", "biasadd", "floordiv",
                    "mod", "sign", "expand_as", "masked_fill", "maskedfill", "addrelu", "elementwiseadd",
                    "elementwisemultiply", "elementwisesum", "elementwiseproduct", "copysign"),
    "normalization": ("batchnorm", "batchnormalization", "batchnorm2d", "nativebatchnorm", "layernorm",
                      "layernormalization", "nativelayernorm", "skiplayernormalization",
                      "simplifiedlayernormalization", "instancenormalization", "instancenorm", "groupnorm",
                      "groupnormalization", "lrn", "localresponsenormalization", "normalize", "scale", "l2norm",
                      "l2normalization", "rmsnorm", "rmsnormalization", "embedlayernormalization", "meanvarnorm",
                      "nativegroupnorm", "batchnormalization2d"),
    "data_movement": ("concat", "concatenation", "cat", "reshape", "view", "viewcopy", "unsafeview", "flatten",
                      "squeeze", "unsqueeze", "transpose", "permute", "permutecopy", "contiguous", "clone", "copy",
                      "copy_", "gather", "gatherelements", "gathernd", "slice", "slicecopy", "split", "splitv",
                      "splitwithsizes", "chunk", "unbind", "stack", "crop", "pad", "padding", "constantpad",
                      "constantpadnd", "mirrorpad", "reorderinput", "reorderoutput", "reorderweights",
                      "quantizelinear", "dequantizelinear", "quantize", "dequantize", "quantizeperchannel",
                      "quantizepertensor", "cast", "convert", "converttensor", "raster", "expand", "tile", "repeat",
                      "channelshuffle", "shufflechannel", "pixelshuffle", "depthtospace", "spacetodepth",
                      "stridedslice", "narrow", "select_", "index", "indexselect", "identity", "shape", "size",
                      "to", "todtype", "memorydata", "input", "output", "flattencopy", "aliascopy", "expandcopy",
                      "transposecopy", "squeezecopy", "unsqueezecopy", "selectcopy", "floattoint8", "int8tofloat",
                      "pack", "unpack", "nhwc2nchw", "nchw2nhwc", "layouttransform", "reformat", "nonzero",
                      "gatherv2", "scatter", "scatternd", "scatterelements", "onehot", "fill", "constantofshape",
                      "range", "arange", "zeros", "ones", "full", "empty", "emptystrided", "newzeros",
                      "mkldnnreorder", "tomkldnn", "tonchw", "qdq", "fakequant", "convertnc", "copync",
                      "transposend", "constantpadnd_", "slicend", "concatenatend", "cropandresize", "permutend",
                      "reshapend", "reshape2", "staticreshape", "detach", "liftfresh", "resolveconj", "resolveneg",
                      "alias", "t", "numpytranspose", "int", "todimordercopy", "scalartensor", "item",
                      "staticconstantpad", "staticslice", "copyreshape"),
    "softmax": ("softmax", "logsoftmax", "softmaxnc", "safesoftmax", "softmaxcrossentropy"),
    "other": ("resize", "resizebilinear", "resizenearestneighbor", "interp", "upsample", "upsamplebilinear2d",
              "upsamplenearest2d", "gridsample", "roialign", "nonmaxsuppression", "topk", "embedding",
              "embeddingbag", "dropout", "noop", "detectionoutput", "priorbox", "argmin", "cumsum", "sort",
              "lookup", "embeddinglookup", "multinomial", "resizebilinear2d", "resizebilinearnhwc",
              "staticresizebilinear2d"),
}
_CLASS_OF = {name: cls for cls, names in _NAMES.items() for name in names}
#: Fused names ("ConvRelu", "Conv2dClamp", "AddRelu") count toward their first, principal op.
_PREFIXES = sorted(((n, c) for n, c in _CLASS_OF.items() if len(n) >= 3 and c != "other"), key=lambda p: -len(p[0]))
_NAMESPACE = re.compile(r"^(aten|prim|quantized|xnnpack|prepacked|mkldnn|com\.microsoft(\.nchwc)?|onnx)(::|\.)")
_XNN = re.compile(r"^(?P<op>[^()]+?)\s*\((?P<layout>[^)]*)\)\s*(?P<kernel>.*)$")


def normalize(name: str) -> str:
    """``aten::conv2d`` → ``conv2d``; ``Convolution (NHWC, F32) IGEMM`` → ``convolution``."""
    name = _NAMESPACE.sub("", name.strip())
    match = _XNN.match(name)
    if match:
        name = match["op"]
    name = re.sub(r"\.(default|Tensor|Scalar|out|int|using_ints|self|dim|input)$", "", name)
    return re.sub(r"[^0-9a-z]", "", name.lower().removesuffix("_"))


def classify(name: str, depthwise: bool = False) -> tuple[str, bool]:
    """The op class of a library's op name, and whether the name was known.

    ``depthwise`` is the profiler's own evidence (groups == input channels, or XNNPACK's
    ``DWConv`` micro-kernel) for libraries whose names do not tell a depthwise convolution apart.
    """
    key = normalize(name)
    cls = _CLASS_OF.get(key)
    if cls is None:
        cls = next((c for prefix, c in _PREFIXES if key.startswith(prefix) and not _convert(key, prefix)), None)
    if cls is None:
        return "other", False
    if cls == "conv" and (depthwise or _xnn_depthwise(name)):
        cls = "depthwise_conv"
    return cls, True


def _convert(key: str, prefix: str) -> bool:
    # "convert…" starts with "conv" but moves data.
    return prefix.startswith("conv") and key.startswith("convert")


def _xnn_depthwise(name: str) -> bool:
    match = _XNN.match(name.strip())
    return bool(match) and "dwconv" in match["kernel"].lower().replace(" ", "")  # type: ignore[index]
