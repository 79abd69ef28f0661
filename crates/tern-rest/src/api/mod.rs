//! ES API families, one module each, named after the REST spec's API ids.

pub mod analyze;
pub mod bulk;
pub mod by_query;
pub mod cat;
pub mod cluster;
pub mod document;
pub mod explain;
pub mod field_caps;
pub mod indices;
pub mod msearch;
pub mod nodes;
pub mod root;
pub mod search;
pub mod stats;

use axum::routing::{get, post, put};

use crate::router::Routes;

/// Adds the routes of the API families that register themselves.
pub fn register(r: Routes) -> Routes {
    r.route("/{index}", put(indices::create).delete(indices::delete).get(indices::get))
        .route("/_mapping", get(indices::get_mapping))
        .route("/{index}/_mapping", get(indices::get_mapping).put(indices::put_mapping).post(indices::put_mapping))
        .route("/_settings", get(indices::get_settings).put(indices::put_settings))
        .route("/_settings/{name}", get(indices::get_settings))
        .route("/{index}/_settings", get(indices::get_settings).put(indices::put_settings))
        .route("/{index}/_settings/{name}", get(indices::get_settings))
        .route("/_refresh", post(indices::refresh).get(indices::refresh))
        .route("/{index}/_refresh", post(indices::refresh).get(indices::refresh))
        .route("/_flush", post(indices::flush).get(indices::flush))
        .route("/{index}/_flush", post(indices::flush).get(indices::flush))
        .route("/{index}/_open", post(indices::open))
        .route("/{index}/_close", post(indices::close))
        .route("/_aliases", post(indices::update_aliases))
        .route("/_alias", get(indices::get_alias))
        .route("/_alias/{name}", get(indices::get_alias))
        .route("/{index}/_alias", get(indices::get_alias))
        .route(
            "/{index}/_alias/{name}",
            get(indices::get_alias).put(indices::put_alias).post(indices::put_alias).delete(indices::delete_alias),
        )
        .route(
            "/{index}/_aliases/{name}",
            put(indices::put_alias).post(indices::put_alias).delete(indices::delete_alias),
        )
        .route("/_index_template", get(indices::get_index_template))
        .route(
            "/_index_template/{name}",
            get(indices::get_index_template)
                .put(indices::put_index_template)
                .post(indices::put_index_template)
                .delete(indices::delete_index_template),
        )
        .route("/_component_template", get(indices::get_component_template))
        .route(
            "/_component_template/{name}",
            get(indices::get_component_template)
                .put(indices::put_component_template)
                .post(indices::put_component_template)
                .delete(indices::delete_component_template),
        )
        .route("/_template", get(indices::legacy_template))
        .route(
            "/_template/{name}",
            get(indices::legacy_template).put(indices::legacy_template).delete(indices::legacy_template),
        )
        .route("/_cluster/health", get(cluster::health))
        .route("/_cluster/allocation/explain", get(cluster::allocation_explain).post(cluster::allocation_explain))
        .route("/_cluster/health/{index}", get(cluster::health))
        .route("/_cluster/state", get(cluster::state))
        .route("/_cluster/state/{metric}", get(cluster::state))
        .route("/_cluster/state/{metric}/{index}", get(cluster::state))
        .route("/_cluster/settings", get(cluster::get_settings).put(cluster::put_settings))
        .route("/_cluster/stats", get(cluster::stats))
        .route("/_cluster/stats/nodes/{node_id}", get(cluster::stats))
        .route("/_nodes", get(nodes::info))
        .route("/_nodes/{node_id}", get(nodes::info))
        .route("/_nodes/{node_id}/{metric}", get(nodes::info))
        .route("/_nodes/stats", get(nodes::stats))
        .route("/_nodes/stats/{metric}", get(nodes::stats))
        .route("/_nodes/stats/{metric}/{index_metric}", get(nodes::stats))
        .route("/_nodes/{node_id}/stats", get(nodes::stats))
        .route("/_nodes/{node_id}/stats/{metric}", get(nodes::stats))
        .route("/_nodes/{node_id}/stats/{metric}/{index_metric}", get(nodes::stats))
        .route("/_nodes/usage", get(nodes::usage))
        .route("/_nodes/usage/{metric}", get(nodes::usage))
        .route("/_nodes/{node_id}/usage", get(nodes::usage))
        .route("/_nodes/{node_id}/usage/{metric}", get(nodes::usage))
        .route("/_nodes/hot_threads", get(nodes::hot_threads))
        .route("/_nodes/{node_id}/hot_threads", get(nodes::hot_threads))
        .route("/_nodes/reload_secure_settings", post(nodes::reload_secure_settings))
        .route("/_nodes/{node_id}/reload_secure_settings", post(nodes::reload_secure_settings))
        .route("/_stats", get(stats::stats))
        .route("/_stats/{metric}", get(stats::stats))
        .route("/{index}/_stats", get(stats::stats))
        .route("/{index}/_stats/{metric}", get(stats::stats))
        .route("/_cat", get(cat::help))
        .route("/_cat/indices", get(cat::indices))
        .route("/_cat/indices/{index}", get(cat::indices))
        .route("/_cat/health", get(cat::health))
        .route("/_cat/nodes", get(cat::nodes))
        .route("/_cat/shards", get(cat::shards))
        .route("/_cat/shards/{index}", get(cat::shards))
        .route("/_cat/count", get(cat::count).post(cat::count))
        .route("/_cat/count/{index}", get(cat::count).post(cat::count))
        .route("/_cat/aliases", get(cat::aliases))
        .route("/_cat/aliases/{name}", get(cat::aliases))
        .route("/_cat/templates", get(cat::templates))
        .route("/_cat/templates/{name}", get(cat::templates))
        .route("/_cat/master", get(cat::master))
        .route("/_cat/allocation", get(cat::allocation))
        .route("/_cat/allocation/{node_id}", get(cat::allocation))
        .route("/_cat/segments", get(cat::segments))
        .route("/_cat/segments/{index}", get(cat::segments))
        .route("/_cat/recovery", get(cat::recovery))
        .route("/_cat/recovery/{index}", get(cat::recovery))
        .route("/_cat/thread_pool", get(cat::thread_pool))
        .route("/_cat/thread_pool/{thread_pool_patterns}", get(cat::thread_pool))
        .route("/_cat/plugins", get(cat::plugins))
        .route("/_cat/nodeattrs", get(cat::nodeattrs))
        .route("/_search", get(search::search).post(search::search))
        .route("/{index}/_search", get(search::search).post(search::search))
        .route("/_count", get(search::count).post(search::count))
        .route("/{index}/_count", get(search::count).post(search::count))
        .route("/_search/scroll", get(search::scroll).post(search::scroll).delete(search::clear_scroll))
        .route("/{index}/_pit", post(search::open_pit))
        .route("/_pit", axum::routing::delete(search::close_pit))
        .route("/_search/scroll/{scroll_id}", get(search::scroll).post(search::scroll).delete(search::clear_scroll))
        .route("/{index}/_delete_by_query", post(by_query::delete_by_query))
        .route("/{index}/_update_by_query", post(by_query::update_by_query))
        .route("/_delete_by_query/{task_id}/_rethrottle", post(by_query::rethrottle))
        .route("/_update_by_query/{task_id}/_rethrottle", post(by_query::rethrottle))
        .route("/_analyze", get(analyze::analyze).post(analyze::analyze))
        .route("/{index}/_analyze", get(analyze::analyze).post(analyze::analyze))
        .route("/_msearch", get(msearch::msearch).post(msearch::msearch))
        .route("/{index}/_msearch", get(msearch::msearch).post(msearch::msearch))
        .route("/{index}/_explain/{id}", get(explain::explain).post(explain::explain))
        .route("/_field_caps", get(field_caps::field_caps).post(field_caps::field_caps))
        .route("/{index}/_field_caps", get(field_caps::field_caps).post(field_caps::field_caps))
}
