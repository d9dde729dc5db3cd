import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/**
 * The layers of src/, bottom to top (README "Architecture"). Imports only point down. A folder that does not
 * exist yet (report/, scale/, studio/ are being built) is listed so the rule applies the day it appears.
 */
const LAYERS = [
  ['util', 'math'],
  ['onnx', 'image'],
  ['runtime'],
  ['models', 'autodiff', 'data', 'report', 'optim'],
  ['train', 'predict', 'viz', 'attack'],
  // Scale-out orchestrates feature extraction (train/) and batch prediction (predict/) across machines.
  ['scale'],
  ['index.ts'],
  ['cli', 'studio'],
];

const src = (name) => `./src/${name}`;

/** Every folder of a higher layer is out of reach of every folder below it. */
const downwardOnly = LAYERS.slice(0, -1).flatMap((layer, i) =>
  layer.map((name) => ({
    target: src(name),
    from: LAYERS.slice(i + 1).flat().map(src),
    message: `src/${name} may only import from lower layers (see README "Architecture").`,
  })),
);

/**
 * Siblings. util/ is the floor (math/ may use its errors, not the reverse); onnx/ and image/ know nothing of
 * each other; the library features do not use each other — what two features share goes down a layer
 * (runtime/, report/, optim/, math/). Shared services may use each other, without cycles (import-x/no-cycle).
 */
const FEATURES = ['train', 'predict', 'viz', 'attack'];
const siblings = [
  { target: src('util'), from: [src('math')], message: 'util/ is the bottom layer.' },
  { target: src('onnx'), from: [src('image')], message: 'onnx/ and image/ are independent.' },
  { target: src('image'), from: [src('onnx')], message: 'onnx/ and image/ are independent.' },
  ...FEATURES.flatMap((name) =>
    FEATURES.filter((other) => other !== name).map((other) => ({
      target: src(name),
      from: src(other),
      message: `src/${name} may not import another library feature (${other}/); move what they share down a layer.`,
    })),
  ),
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', '.cache/**', 'out/**', 'scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // Parse the imported .ts files too (no-cycle follows them) and resolve '.js' specifiers to the .ts sources.
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: [...downwardOnly, ...siblings] }],
    },
  },
);
