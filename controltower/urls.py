from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from carriers.views import carrier_webhook

from . import metrics, network_views, reports_views, settings_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("live/state/", views.live_state, name="live-state"),
    path("live/kpis/", views.kpis_partial, name="live-kpis"),
    path("live/carriers/", views.carriers_partial, name="live-carriers"),
    path("live/orders/", views.orders_partial, name="live-orders"),
    path("live/orders/bulk/", views.orders_bulk, name="live-orders-bulk"),
    path("live/exceptions/", views.exceptions_partial, name="live-exceptions"),
    path("live/decisions/<int:pk>/undo/", views.decision_undo_action, name="live-decision-undo"),
    path("decisions/<int:pk>/snapshot.json", views.decision_snapshot, name="decision-snapshot"),
    path("live/decisions/<int:pk>/progress/", views.decision_progress, name="live-decision-progress"),
    path("live/decisions/<int:pk>/<str:action>/", views.decision_action, name="live-decision"),
    path("live/exceptions/<int:pk>/<str:action>/", views.exception_hold, name="live-exception-hold"),
    path("live/activity/", views.activity_partial, name="live-activity"),
    path("orders/<str:ref>/", views.order_page, name="order-page"),
    path("carriers/<str:code>/", views.carrier_page, name="carrier-page"),
    path("proof/<int:pk>/", views.proof_file, name="proof-file"),
    path("vehicles/<str:code>/", views.vehicle_page, name="vehicle-page"),
    path("dead-letters/", views.dead_letters_page, name="dead-letters"),
    path("performance/", reports_views.performance_page, name="performance"),
    path("performance/export/<str:table>.csv", reports_views.performance_export, name="performance-export"),
    path("performance/<str:kind>/<str:code>/", reports_views.scorecard_page, name="scorecard"),
    path("settings/", settings_views.settings_home, name="settings"),
    path("settings/service-levels/<str:level>/", settings_views.rule_edit, name="settings-rule"),
    path("settings/service-levels/<str:level>/history/", settings_views.rule_history, name="settings-rule-history"),
    path("settings/policy/", settings_views.policy_edit, name="settings-policy"),
    path("settings/policy/history/", settings_views.policy_history, name="settings-policy-history"),
    path("settings/scheduled/<int:pk>/cancel/", settings_views.scheduled_cancel, name="settings-scheduled-cancel"),
    path("settings/users/", settings_views.users_page, name="settings-users"),
    path("settings/costs/", settings_views.costs_page, name="settings-costs"),
    path("settings/costs/rates/<int:pk>/history/", settings_views.rate_history, name="settings-rate-history"),
    path("settings/costs/zones/<int:pk>/history/", settings_views.zone_history, name="settings-zone-history"),
    path("settings/costs/vans/<int:pk>/history/", settings_views.van_cost_history, name="settings-van-history"),
    path("settings/network/", network_views.network_home, name="network"),
    path("settings/network/<str:kind>/", network_views.network_list, name="network-list"),
    path("settings/network/<str:kind>/add/", network_views.network_edit, name="network-add"),
    path("settings/network/<str:kind>/<int:pk>/", network_views.network_edit, name="network-edit"),
    path("settings/templates/", settings_views.templates_page, name="settings-templates"),
    path("settings/templates/<str:kind>/<str:channel>/", settings_views.template_edit, name="settings-template"),
    path("settings/templates/<str:kind>/<str:channel>/history/", settings_views.template_history, name="settings-template-history"),
    path("track/<str:token>/", views.tracking_page, name="track"),
    path("exceptions/<int:pk>/calls/", views.exception_calls, name="exception-calls"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("dispatch.api.urls")),
    path("webhooks/carriers/<slug:org_slug>/<str:code>/", carrier_webhook, name="carrier-webhook"),
]


def handler404(request, exception=None):
    """An API path that matches no route answers in the API's error shape; pages get Django's page."""
    if request.path.startswith("/api/"):

        return JsonResponse({"error": {"code": "not_found", "message": "No such endpoint or object."}}, status=404)

    return page_not_found(request, exception)
