//! Cluster health, node and index statistics as the `_cluster`, `_nodes`, `_stats` and `_cat` APIs
//! report them.
