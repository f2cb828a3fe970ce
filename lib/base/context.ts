// Who runs the tool and where its state lives: computed once per invocation.
import { configDir, imagesDirFor, instancesDirFor, registryDirFor, runtimeDirFor } from './paths.ts';
import { selfCommand } from './self.ts';

export interface ToolContext {
  uid: number;
  isRoot: boolean;
  /** This user's guests: records, QMP sockets, logs. */
  runtimeDir: string;
  /** Root's record of host changes (root's runtime directory, or the helper's). */
  registryDir: string;
  /** Root-owned network definitions. */
  config: string;
  /** The argv that runs this tool again (supervisor, sudo helper). */
  selfCommand: string[];
  /** Verified images (image pull, add), and instances. */
  imagesDir: string;
  instancesDir: string;
}

export function toolContext(env: Record<string, string | undefined> = process.env): ToolContext {
  const uid = process.getuid?.() ?? 0;
  const runtimeDir = runtimeDirFor(uid, env);
  return {
    uid,
    isRoot: uid === 0,
    runtimeDir,
    registryDir: registryDirFor(uid, runtimeDir),
    config: configDir(uid, env),
    selfCommand: selfCommand(),
    imagesDir: imagesDirFor(uid, env),
    instancesDir: instancesDirFor(uid, env),
  };
}
