// Types of scripts/code-shape.mjs for the TypeScript tests.
export declare const LIMITS: { fileLines: number; httpFileLines: number; functionLines: number };
export interface ShapeReport {
  longFiles: Array<{ file: string; lines: number; limit: number }>;
  longFunctions: Array<{ file: string; name: string; line: number; own: number }>;
  sideTables: Array<{ file: string; line: number; text: string }>;
  fastifyAugmentations: Array<{ file: string; line: number }>;
}
export declare function measure(root?: string): ShapeReport;
