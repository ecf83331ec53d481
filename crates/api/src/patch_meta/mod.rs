//! Strategic-merge-patch metadata of the built-in types (merge keys and
//! patch strategies of list and map fields).
