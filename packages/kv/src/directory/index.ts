// The directory layer: paths to allocated prefixes.

export {
  DEFAULT_NODE_PREFIX,
  DirectoryLayer,
  DirectorySubspace,
  type CreateDirectoryOptions,
  type DirectoryLayerOptions,
  type DirectoryOptions,
} from './directory-layer.js';
export { DirectoryAlreadyExistsError, DirectoryLayerMismatchError, DirectoryNotFoundError, InvalidDirectoryOperationError } from './errors.js';
