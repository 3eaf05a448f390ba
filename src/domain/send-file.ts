/**
 * File content limit: 32 KiB once Base64-encoded, as the vendor's SendFile. The API refuses a
 * longer Content; the CLI checks a file against it before sending.
 */
export const MAX_FILE_BASE64_BYTES = 32 * 1024;
