// Types of scripts/runtime.mjs for the TypeScript tests.
export declare const OLDEST: { major: number; minor: number };
export declare const FETCHED_MAJOR: number;
export declare const SERVER_NODE_FLAGS: readonly string[];
export declare function isSupported(version?: string): boolean;
export declare function cacheDir(major?: number): string;
export declare function fetchedNode(say?: (line: string) => void, major?: number): string;
export declare function runtimeNode(say?: (line: string) => void): string;
