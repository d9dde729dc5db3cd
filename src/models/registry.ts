/** Named pretrained models: where they come from, how to feed them, what their outputs mean. */
import { PREPROCESS_TF, PREPROCESS_TORCH, PREPROCESS_UNIT, type Preprocess } from '../image/preprocess.js';

export type ModelFormat = 'tfjs' | 'onnx';
export type ArchitectureName = 'vgg16' | 'vgg19' | 'resnet18' | 'resnet50' | 'mobilenet_v2' | 'efficientnet_b0' | 'scratch_cnn';

export interface RegistryEntry {
  name: string;
  description: string;
  architecture: string;
  format: ModelFormat;
  /** File (or model.json inside a folder) looked up under $GRAFT_MODELS and the cache dir. */
  file: string;
  /** Official download location; for TF.js models the model.json URL (shards sit beside it). */
  url?: string;
  /** How to obtain the file when there is no download URL. */
  manualHint?: string;
  /** sha256 of `file` (for TF.js: of model.json; shards are checked against the manifest's sizes). */
  sha256?: string;
  preprocess: Preprocess;
  /** 'imagenet' = the 1000 standard names; 'metadata' = labels in the folder's metadata.json. */
  labels: 'imagenet' | 'metadata';
  /** File (in the model folder) mapping output index → standard ImageNet index (Darknet's own class order); the loaded graph is permuted into the standard order. */
  labelMapFile?: string;
  output: 'logits' | 'probabilities';
  /** Friendly tap names → layer/tensor names. `features` is the pooled feature vector; `lastConv` feeds Grad-CAM. */
  taps: Record<string, string>;
  /** Architecture graft can build with random weights (--random-weights). */
  buildable?: ArchitectureName;
}

const ZOO = 'https://github.com/onnx/models/raw/main/validated/vision/classification';

export const REGISTRY: RegistryEntry[] = [
  {
    name: 'mobilenet_v1_0.75',
    description: 'MobileNet v1, width 0.75, 224 px, ImageNet 1000 classes (TF.js layers) — the default',
    architecture: 'mobilenet_v1',
    format: 'tfjs',
    file: 'mobilenet_v1_0.75_224/model.json',
    url: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/model.json',
    sha256: 'a74c25424bd9939b1c245a58da417e35d1ca16f0b009490a1c44b43d982600d9',
    preprocess: PREPROCESS_TF,
    labels: 'imagenet',
    output: 'probabilities',
    taps: { features: 'global_average_pooling2d_1', lastConv: 'conv_pw_13_relu', logits: 'conv_preds' },
  },
  {
    name: 'darknet_tiny',
    description: 'Darknet "tiny" ImageNet classifier (pjreddie via ml5), 224 px, outputs in Darknet class order',
    architecture: 'darknet_tiny',
    format: 'tfjs',
    file: 'darknet_tiny/model.json',
    url: 'https://raw.githubusercontent.com/ml5js/ml5-data-and-models/main/models/darknetclassifier/darknettiny/model.json',
    sha256: '5a5ee1ddb33ac7948b303197f4c63f72a80fc00a7d2870d30843004ddd5b4b51',
    preprocess: PREPROCESS_UNIT,
    labels: 'imagenet',
    labelMapFile: 'darknet_to_std.json',
    output: 'logits',
    taps: { features: 'global_average_pooling2d_1', lastConv: 'leaky_re_lu_15' },
  },
  {
    name: 'mobilenetv2_int8',
    description: 'MobileNetV2 1.0 int8-quantised (ONNX model zoo), 224 px, logits',
    architecture: 'mobilenet_v2',
    format: 'onnx',
    file: 'mobilenetv2-12-int8.onnx',
    url: `${ZOO}/mobilenet/model/mobilenetv2-12-int8.onnx`,
    sha256: '83530ad811bc31d2b60a5599a21265a5057608c9b044b4ee758cc22f2309f54f',
    preprocess: PREPROCESS_TORCH,
    labels: 'imagenet',
    output: 'logits',
    taps: {},
  },
  {
    name: 'mobilenet_v2',
    description: 'MobileNetV2 1.0 float (ONNX model zoo), 224 px, logits',
    architecture: 'mobilenet_v2',
    format: 'onnx',
    file: 'mobilenetv2-12.onnx',
    url: `${ZOO}/mobilenet/model/mobilenetv2-12.onnx`,
    preprocess: PREPROCESS_TORCH,
    labels: 'imagenet',
    output: 'logits',
    taps: {},
    buildable: 'mobilenet_v2',
  },
  {
    name: 'resnet18',
    description: 'ResNet-18 v1 (ONNX model zoo), 224 px, logits',
    architecture: 'resnet18',
    format: 'onnx',
    file: 'resnet18-v1-7.onnx',
    url: `${ZOO}/resnet/model/resnet18-v1-7.onnx`,
    preprocess: PREPROCESS_TORCH,
    labels: 'imagenet',
    output: 'logits',
    taps: {},
    buildable: 'resnet18',
  },
  {
    name: 'resnet50',
    description: 'ResNet-50 v1 (ONNX model zoo), 224 px, logits',
    architecture: 'resnet50',
    format: 'onnx',
    file: 'resnet50-v1-7.onnx',
    url: `${ZOO}/resnet/model/resnet50-v1-7.onnx`,
    preprocess: PREPROCESS_TORCH,
    labels: 'imagenet',
    output: 'logits',
    taps: {},
    buildable: 'resnet50',
  },
  {
    name: 'vgg16',
    description: 'VGG-16 (ONNX model zoo), 224 px, logits',
    architecture: 'vgg16',
    format: 'onnx',
    file: 'vgg16-7.onnx',
    url: `${ZOO}/vgg/model/vgg16-7.onnx`,
    preprocess: PREPROCESS_TORCH,
    labels: 'imagenet',
    output: 'logits',
    taps: {},
    buildable: 'vgg16',
  },
  {
    name: 'vgg19',
    description: 'VGG-19 (ONNX model zoo), 224 px, logits',
    architecture: 'vgg19',
    format: 'onnx',
    file: 'vgg19-7.onnx',
    url: `${ZOO}/vgg/model/vgg19-7.onnx`,
    preprocess: PREPROCESS_TORCH,
    labels: 'imagenet',
    output: 'logits',
    taps: {},
    buildable: 'vgg19',
  },
  {
    name: 'efficientnet_b0',
    description: 'EfficientNet-B0 (torchvision definition; no official ONNX file — export it and place it under $GRAFT_MODELS), 224 px, logits',
    architecture: 'efficientnet_b0',
    format: 'onnx',
    file: 'efficientnet_b0.onnx',
    manualHint: "python -c \"import torch,torchvision; m=torchvision.models.efficientnet_b0(weights='DEFAULT').eval(); torch.onnx.export(m, torch.randn(1,3,224,224), 'efficientnet_b0.onnx', input_names=['input'], output_names=['logits'], dynamic_axes={'input':{0:'N'}}, opset_version=17)\"",
    preprocess: PREPROCESS_TORCH,
    labels: 'imagenet',
    output: 'logits',
    taps: {},
    buildable: 'efficientnet_b0',
  },
];

export const DEFAULT_MODEL = 'mobilenet_v1_0.75';

export function findEntry(name: string): RegistryEntry | undefined {
  return REGISTRY.find((e) => e.name === name);
}
