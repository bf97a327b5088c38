// Subspaces: key prefixes that namespace tuples.

export { Subspace, SubspaceMismatchError } from './subspace.js';
