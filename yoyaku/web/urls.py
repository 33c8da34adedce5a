from django.urls import path

from yoyaku.web import (
    auth_views,
    connections,
    crm_views,
    dashboard,
    embedding_views,
    hours_views,
    manage_views,
    meeting_views,
    page_editor,
    profile_views,
    settings_views,
    views,
    workspace_views,
)

urlpatterns = [
    path("", views.home, name="home"),
    path("m/<slug:slug>", views.booking_page, name="booking-page"),
    path("m/<slug:slug>/", views.booking_page),
    path("m/<slug:slug>/photo", profile_views.page_photo, name="page-photo"),
    # The booker's links to move or cancel their meeting (a signed token, no sign-in).
    path("manage/<str:token>/reschedule/", manage_views.reschedule_page, name="manage-reschedule"),
    path("manage/<str:token>/cancel/", manage_views.cancel_page, name="manage-cancel"),
    path("manage/<str:token>/meeting.ics", manage_views.calendar_file, name="manage-ics"),
    # Host pages: sign-in, dashboard, settings.
    path("accounts/login/", auth_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.SignOutView.as_view(), name="logout"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path(
        "dashboard/calendars/<int:connection_id>/settings/",
        dashboard.save_calendar_settings,
        name="calendar-settings",
    ),
    path(
        "dashboard/calendars/<int:connection_id>/disconnect/",
        dashboard.remove_calendar,
        name="calendar-disconnect",
    ),
    path(
        "dashboard/calendars/<int:connection_id>/refresh/",
        dashboard.refresh_calendar_list,
        name="calendar-refresh",
    ),
    path("dashboard/pages/<slug:slug>/leave/", dashboard.leave_page, name="page-leave"),
    path("dashboard/inboxes/<int:inbox_id>/disconnect/", dashboard.remove_inbox, name="inbox-disconnect"),
    path("dashboard/bookings/<uuid:booking_id>/cancel/", dashboard.cancel_meeting, name="booking-cancel"),
    path(
        "dashboard/bookings/<uuid:booking_id>/reschedule/",
        dashboard.reschedule_meeting,
        name="booking-reschedule",
    ),
    path(
        "dashboard/bookings/<uuid:booking_id>/free-times/",
        meeting_views.booking_free_times,
        name="booking-free-times",
    ),
    path(
        "dashboard/requests/<uuid:request_id>/confirm/",
        meeting_views.confirm_meeting_request,
        name="request-confirm",
    ),
    path(
        "dashboard/requests/<uuid:request_id>/decline/",
        meeting_views.decline_meeting_request,
        name="request-decline",
    ),
    path(
        "dashboard/requests/<uuid:request_id>/free-times/",
        meeting_views.request_free_times,
        name="request-free-times",
    ),
    path(
        "dashboard/bookings/<uuid:booking_id>/calendar-retry/",
        dashboard.retry_calendar,
        name="booking-calendar-retry",
    ),
    # The scheduling page editor and the working-hours editor.
    path("pages/", page_editor.pages, name="pages"),
    path("pages/new/", page_editor.page_new, name="page-new"),
    path("pages/<slug:slug>/edit/", page_editor.page_edit, name="page-edit"),
    path("pages/<slug:slug>/duplicate/", page_editor.page_duplicate, name="page-duplicate"),
    path("pages/<slug:slug>/active/", page_editor.page_active, name="page-active"),
    path("pages/<slug:slug>/delete/", page_editor.page_delete, name="page-delete"),
    path("availability/", hours_views.availability, name="availability"),
    # The CRM: contacts and meetings of the user's workspace.
    path("crm/contacts/", crm_views.contacts, name="crm-contacts"),
    path("crm/contacts/new/", crm_views.contact_new, name="crm-contact-new"),
    path("crm/contacts/<int:contact_id>/", crm_views.contact_page, name="crm-contact"),
    path("crm/contacts/<int:contact_id>/edit/", crm_views.contact_edit, name="crm-contact-edit"),
    path("crm/contacts/<int:contact_id>/merge/", crm_views.contact_merge, name="crm-contact-merge"),
    path("crm/contacts/<int:contact_id>/meetings/new/", crm_views.meeting_new, name="crm-meeting-new"),
    path("crm/meetings/", crm_views.meetings, name="crm-meetings"),
    path("crm/meetings/<int:meeting_id>/", crm_views.meeting_page, name="crm-meeting"),
    path("crm/meetings/<int:meeting_id>/cancel/", crm_views.meeting_cancel, name="crm-meeting-cancel"),
    path(
        "crm/meetings/<int:meeting_id>/calendar-retry/",
        crm_views.meeting_calendar_retry,
        name="crm-meeting-calendar-retry",
    ),
    path("settings/", settings_views.settings_home, name="settings"),
    path("settings/calendar/", settings_views.calendar_tab, name="settings-calendar"),
    path("settings/calendar/exchange/", settings_views.connect_exchange, name="connect-exchange"),
    path("settings/calendar/caldav/", settings_views.connect_caldav, name="connect-caldav"),
    path("settings/api-keys/", settings_views.api_keys, name="settings-api-keys"),
    path("settings/embedding/", embedding_views.embedding, name="settings-embedding"),
    path("settings/profile/", profile_views.profile, name="settings-profile"),
    path("settings/profile/password/", profile_views.change_password, name="settings-password"),
    path("settings/profile/photo/", profile_views.photo, name="settings-photo"),
    path("settings/api-keys/<int:key_id>/revoke/", settings_views.revoke_key, name="api-key-revoke"),
    # Settings > Workspace: the workspace's admins only.
    path("settings/workspace/", workspace_views.workspace_page, name="settings-workspace"),
    path("settings/workspace/invite/", workspace_views.invite, name="workspace-invite"),
    path("settings/workspace/inboxes/share/", workspace_views.share_inbox, name="workspace-share-inbox"),
    path(
        "settings/workspace/calendar-log/",
        workspace_views.change_calendar_log_scope,
        name="workspace-calendar-log",
    ),
    path(
        "settings/workspace/users/<int:user_id>/invitation/",
        workspace_views.resend_invitation,
        name="workspace-resend-invitation",
    ),
    path("settings/workspace/users/<int:user_id>/role/", workspace_views.change_role, name="workspace-role"),
    path(
        "settings/workspace/users/<int:user_id>/active/",
        workspace_views.change_active,
        name="workspace-active",
    ),
    path(
        "settings/workspace/users/<int:user_id>/personal-email/",
        workspace_views.change_personal_email,
        name="workspace-personal-email",
    ),
    path("settings/workspace/users/<int:user_id>/seat/", workspace_views.change_seat, name="workspace-seat"),
    # The signed invitation link: the invited user sets a password.
    path(
        "accounts/invitation/<str:uidb64>/<str:token>/", workspace_views.accept_invitation, name="invitation"
    ),
    # Connecting Google and Microsoft 365 (OAuth): start, and the provider's redirect back.
    path("settings/calendar/connect/<str:provider>/", connections.oauth_start, name="connect-oauth-start"),
    path("oauth/<str:provider>/callback", connections.oauth_callback, name="oauth-callback"),
]
