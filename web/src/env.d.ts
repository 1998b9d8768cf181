// The generated client reads process.env.NODE_ENV; vite.config.ts defines it.
declare const process: { env: Record<string, string | undefined> };
