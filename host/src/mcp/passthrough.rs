//! The MCP methods the gateway passes through without a decision:
//! resources (`resources/list`, `resources/templates/list`,
//! `resources/read`) and prompts (`prompts/list`, `prompts/get`). Lists
//! are merged across the upstreams that offer them; a read or a get goes
//! to the upstream that listed that URI or prompt name.

use super::upstream::{Upstream, UpstreamError};
use rmcp::ErrorData;
use rmcp::model::{
    GetPromptRequestParams, GetPromptResult, Prompt, ReadResourceRequestParams, ReadResourceResult,
    Resource, ResourceTemplate,
};
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Which upstream listed each resource URI and prompt name.
#[derive(Debug, Default)]
pub struct Passthrough {
    resources: RwLock<HashMap<String, usize>>,
    prompts: RwLock<HashMap<String, usize>>,
}

/// The protocol error for an upstream that failed.
fn upstream_error(e: UpstreamError) -> ErrorData {
    match e {
        UpstreamError::Failed {
            error: Some(error), ..
        } => error,
        other => ErrorData::internal_error(other.to_string(), None),
    }
}

impl Passthrough {
    /// Every upstream's resources, merged.
    pub async fn list_resources(&self, upstreams: &[Upstream]) -> Result<Vec<Resource>, ErrorData> {
        let mut all = Vec::new();
        let mut routes = HashMap::new();
        for (i, u) in upstreams.iter().enumerate() {
            if u.capabilities()
                .await
                .map_err(upstream_error)?
                .resources
                .is_none()
            {
                continue;
            }
            let listed = u
                .request(|peer| async move { peer.list_all_resources().await })
                .await
                .map_err(upstream_error)?;
            for r in listed {
                routes.entry(r.uri.clone()).or_insert(i);
                all.push(r);
            }
        }
        *self
            .resources
            .write()
            .unwrap_or_else(PoisonError::into_inner) = routes;
        Ok(all)
    }

    /// Every upstream's resource templates, merged.
    pub async fn list_resource_templates(
        &self,
        upstreams: &[Upstream],
    ) -> Result<Vec<ResourceTemplate>, ErrorData> {
        let mut all = Vec::new();
        for u in upstreams {
            if u.capabilities()
                .await
                .map_err(upstream_error)?
                .resources
                .is_none()
            {
                continue;
            }
            let listed = u
                .request(|peer| async move { peer.list_all_resource_templates().await })
                .await
                .map_err(upstream_error)?;
            all.extend(listed);
        }
        Ok(all)
    }

    /// Read a resource from the upstream that listed it (or, for a URI no
    /// list named, the only upstream that offers resources).
    pub async fn read_resource(
        &self,
        upstreams: &[Upstream],
        params: ReadResourceRequestParams,
    ) -> Result<ReadResourceResult, ErrorData> {
        let mut target = self.resource_route(&params.uri);
        if target.is_none() {
            self.list_resources(upstreams).await?;
            target = self.resource_route(&params.uri);
        }
        if target.is_none() {
            let mut offering = Vec::new();
            for (i, u) in upstreams.iter().enumerate() {
                if u.capabilities()
                    .await
                    .map_err(upstream_error)?
                    .resources
                    .is_some()
                {
                    offering.push(i);
                }
            }
            if let [only] = offering.as_slice() {
                target = Some(*only);
            }
        }
        let upstream = target.and_then(|i| upstreams.get(i)).ok_or_else(|| {
            ErrorData::invalid_params(format!("unknown resource `{}`", params.uri), None)
        })?;
        upstream
            .request(|peer| async move { peer.read_resource(params).await })
            .await
            .map_err(upstream_error)
    }

    fn resource_route(&self, uri: &str) -> Option<usize> {
        self.resources
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uri)
            .copied()
    }

    /// Every upstream's prompts, merged.
    pub async fn list_prompts(&self, upstreams: &[Upstream]) -> Result<Vec<Prompt>, ErrorData> {
        let mut all = Vec::new();
        let mut routes = HashMap::new();
        for (i, u) in upstreams.iter().enumerate() {
            if u.capabilities()
                .await
                .map_err(upstream_error)?
                .prompts
                .is_none()
            {
                continue;
            }
            let listed = u
                .request(|peer| async move { peer.list_all_prompts().await })
                .await
                .map_err(upstream_error)?;
            for p in listed {
                routes.entry(p.name.clone()).or_insert(i);
                all.push(p);
            }
        }
        *self.prompts.write().unwrap_or_else(PoisonError::into_inner) = routes;
        Ok(all)
    }

    /// Get a prompt from the upstream that listed it.
    pub async fn get_prompt(
        &self,
        upstreams: &[Upstream],
        params: GetPromptRequestParams,
    ) -> Result<GetPromptResult, ErrorData> {
        let route = |this: &Self| {
            this.prompts
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&params.name)
                .copied()
        };
        let mut target = route(self);
        if target.is_none() {
            self.list_prompts(upstreams).await?;
            target = route(self);
        }
        let upstream = target.and_then(|i| upstreams.get(i)).ok_or_else(|| {
            ErrorData::invalid_params(format!("unknown prompt `{}`", params.name), None)
        })?;
        upstream
            .request(|peer| async move { peer.get_prompt(params).await })
            .await
            .map_err(upstream_error)
    }
}
