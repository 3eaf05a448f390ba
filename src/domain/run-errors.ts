/**
 * The seed's fixed per-node ErrorCode values and their ErrorInfo texts (spelling kept as the
 * vendor's, "does not exists" included, so scripts that match on them keep working).
 */
export const RUN_ERRORS = {
  AccountNotExists: 'the specified account does not exists',
  DirectoryNotExists: 'the specified directory does not exists',
  ExecutionTimeout: 'the command execution has been timeout',
  ExitCodeNonzero: 'the command execution exit code is not zero',
  ExecutionInterrupted: 'the command execution has been interrupted',
  ExecutionException: 'the command execution got an exception',
  DeliveryTimeout: 'the command delivery has been timeout',
  ClientNotRunning: 'the aliyun service is not running on the instance',
  ClientNotResponse: 'the aliyun service in the instance does not response',
  // Not in the seed: the agent is not root, so it cannot switch to the requested user.
  AccountNotPermitted: 'the agent is not allowed to run commands as the specified account',
  // SendFile (the vendor's file-sending codes and texts; AccountNotExists above for FileOwner).
  UserGroupNotExists: 'Group not exists',
  FileAlreadyExists: 'File already exists',
  FileNameInvalid: 'File name is invalid',
  FilePathInvalid: 'File path is invalid',
  FileAuthorityInvalid: 'the authority of file is invalid',
  // The agent appends the operating system's message to this one.
  FileCreateFail: 'the file creation is failed',
  // Not in the seed: with EnableParameter, the content's parameters could not be replaced.
  ParameterInvalid: 'the command parameters are invalid or have no value',
  // Not in the seed: with EnableParameter, the replaced content is over the content limit.
  ContentLengthLimitExceeded: 'the command content exceeds 24 KiB once its parameters are replaced',
  // Not in the seed: the node's own record holds a field its agent never writes (the text is
  // followed by the bad fields, see src/domain/records.ts).
  InvalidRunRecord: "the node's run record is invalid",
  // Not in the seed: the invocation's MaxErrors was exceeded before this node started.
  MaxErrorsExceeded: 'the invocation exceeded its MaxErrors; this node was not started',
} as const;

export type RunErrorCode = keyof typeof RUN_ERRORS;
