import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { WhoamiAnswer } from './api';

/** The token's role: `read` gets a console without Run, Stop, Delete (the API refuses too). */
export const RoleContext = createContext<WhoamiAnswer['Role']>('read');

export const useCanRun = (): boolean => useContext(RoleContext) !== 'read';
