//! ES API families, one module each, named after the REST spec's API ids.

pub mod bulk;
pub mod document;
pub mod indices;
pub mod root;
pub mod search;

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
        .route("/_search", get(search::search).post(search::search))
        .route("/{index}/_search", get(search::search).post(search::search))
        .route("/_count", get(search::count).post(search::count))
        .route("/{index}/_count", get(search::count).post(search::count))
        .route("/_search/scroll", get(search::scroll).post(search::scroll).delete(search::clear_scroll))
        .route("/_search/scroll/{scroll_id}", get(search::scroll).post(search::scroll).delete(search::clear_scroll))
}
